/// Which chunks of the disk the cache holds, one bit a chunk, stored in
/// independently checksummed 4 KiB pages.
///
/// Bits are only ever set. A page is written whole, after the data of every
/// bit it sets is durable; a torn or corrupt page fails its checksum and is
/// read as empty, which costs a refetch and never serves wrong bytes.
struct PresenceBitmap: Sendable {
    static let pageSize = 4096
    /// Each page holds this many bytes of bits, then an 8-byte checksum.
    static let bitBytesPerPage = pageSize - 8
    static let chunksPerPage = bitBytesPerPage * 8

    let chunkCount: Int
    private var bits: [UInt8]

    init(chunkCount: Int) {
        self.chunkCount = chunkCount
        bits = Array(repeating: 0, count: Self.pageCount(chunkCount: chunkCount) * Self.bitBytesPerPage)
    }

    static func pageCount(chunkCount: Int) -> Int {
        max(1, (chunkCount + chunksPerPage - 1) / chunksPerPage)
    }

    var pageCount: Int { Self.pageCount(chunkCount: chunkCount) }

    var presentCount: Int { bits.reduce(0) { $0 + $1.nonzeroBitCount } }

    func contains(_ chunk: Int) -> Bool {
        bits[chunk / 8] & (1 << (chunk % 8)) != 0
    }

    /// Sets `chunk`'s bit; returns whether it was clear.
    @discardableResult
    mutating func insert(_ chunk: Int) -> Bool {
        let mask: UInt8 = 1 << (chunk % 8)
        defer { bits[chunk / 8] |= mask }
        return bits[chunk / 8] & mask == 0
    }

    static func page(of chunk: Int) -> Int { chunk / chunksPerPage }

    /// The page as stored: its bits, then the checksum of bits and index.
    func encodedPage(_ page: Int) -> [UInt8] {
        let slice = bits[page * Self.bitBytesPerPage..<(page + 1) * Self.bitBytesPerPage]
        var writer = ByteWriter()
        writer.append(Self.checksum(slice, page: page))
        return Array(slice) + writer.bytes
    }

    /// Merges a stored page into the bitmap. Returns false, and merges
    /// nothing, when the page is torn or corrupt. A page never written (all
    /// zeros, checksum included) is valid and empty.
    mutating func merge(storedPage bytes: [UInt8], page: Int) -> Bool {
        guard bytes.count == Self.pageSize else { return false }
        let stored = bytes[..<Self.bitBytesPerPage]
        var trailer = ByteReader(Array(bytes[Self.bitBytesPerPage...]))
        let checksum = trailer.read(UInt64.self)
        if checksum == 0 && !stored.contains(where: { $0 != 0 }) {
            return true
        }
        guard checksum == Self.checksum(stored, page: page) else { return false }
        let offset = page * Self.bitBytesPerPage
        bits.withUnsafeMutableBytes { bits in
            stored.withUnsafeBytes { stored in
                for index in 0..<stored.count {
                    bits[offset + index] |= stored[index]
                }
            }
        }
        return true
    }

    private static func checksum(_ bits: ArraySlice<UInt8>, page: Int) -> UInt64 {
        var seed = ByteWriter()
        seed.append(UInt64(page))
        return Checksum.fnv1a(bits, seed: Checksum.fnv1a(seed.bytes))
    }
}
