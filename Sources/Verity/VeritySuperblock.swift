/// The 512-byte header `veritysetup format` writes at the start of a hash
/// tree (struct verity_sb in cryptsetup): how the tree was made, so a user
/// gives only the root hash. Little-endian, at byte 0 of the tree file; the
/// tree's first level starts at the next hash block.
public struct VeritySuperblock: Sendable, Hashable {
    public static let size = 512
    static let signature = Array("verity".utf8) + [0, 0]
    static let largestSalt = 256

    /// Hash type 1, the one `veritysetup` makes by default: the salt goes
    /// before each block's bytes (type 0, Chrome OS's, puts it after).
    public var hashType: UInt32 = 1
    public var uuid: [UInt8] = Array(repeating: 0, count: 16)
    public var algorithm = "sha256"
    public var dataBlockSize: UInt32 = 4096
    public var hashBlockSize: UInt32 = 4096
    public var dataBlocks: UInt64
    public var salt: [UInt8] = []

    public init(dataBlocks: UInt64, salt: [UInt8] = [], uuid: [UInt8] = Array(repeating: 0, count: 16)) {
        self.dataBlocks = dataBlocks
        self.salt = salt
        self.uuid = uuid
    }

    /// Reads and checks a superblock; throws ``HashTreeError`` for anything
    /// lazydisk cannot verify with (it checks SHA-256 trees of hash type 1).
    public init(decoding bytes: [UInt8]) throws(HashTreeError) {
        guard bytes.count >= Self.size else { throw .malformed("it has \(bytes.count) bytes, less than a superblock's 512") }
        guard bytes.starts(with: Self.signature) else {
            throw .malformed("it does not start with a veritysetup superblock (make it without --no-superblock)")
        }
        func integer<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
            bytes[offset..<offset + MemoryLayout<T>.size].reversed().reduce(T(0)) { $0 << 8 | T($1) }
        }
        let version = integer(UInt32.self, at: 8)
        guard version == 1 else { throw .unsupported("superblock version \(version)") }
        hashType = integer(UInt32.self, at: 12)
        guard hashType == 1 else { throw .unsupported("hash type \(hashType) (Chrome OS's); lazydisk checks type 1, veritysetup's default") }
        uuid = Array(bytes[16..<32])
        algorithm = String(decoding: bytes[32..<64].prefix { $0 != 0 }, as: UTF8.self)
        guard algorithm == "sha256" else { throw .unsupported("hash algorithm \(algorithm); lazydisk checks sha256 trees") }
        dataBlockSize = integer(UInt32.self, at: 64)
        hashBlockSize = integer(UInt32.self, at: 68)
        for size in [dataBlockSize, hashBlockSize] where size < 512 || size > 1 << 20 || size.nonzeroBitCount != 1 {
            throw .malformed("block size \(size) is not a power of two from 512 to 1 MiB")
        }
        dataBlocks = integer(UInt64.self, at: 72)
        guard dataBlocks > 0, dataBlocks <= 1 << 50 else { throw .malformed("it covers \(dataBlocks) data blocks") }
        let saltSize = Int(integer(UInt16.self, at: 80))
        guard saltSize <= Self.largestSalt else { throw .malformed("salt of \(saltSize) bytes, more than 256") }
        salt = Array(bytes[88..<88 + saltSize])
    }

    /// The 512 bytes `veritysetup format` writes for these parameters.
    public func encoded() -> [UInt8] {
        var bytes = Self.signature
        func append<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
        }
        append(UInt32(1))
        append(hashType)
        bytes += uuid.prefix(16) + Array(repeating: 0, count: 16 - min(16, uuid.count))
        bytes += Array(algorithm.utf8.prefix(31)) + Array(repeating: 0, count: 32 - min(31, algorithm.utf8.count))
        append(dataBlockSize)
        append(hashBlockSize)
        append(dataBlocks)
        append(UInt16(salt.count))
        bytes += Array(repeating: 0, count: 6)
        bytes += salt + Array(repeating: 0, count: Self.largestSalt - salt.count)
        bytes += Array(repeating: 0, count: Self.size - bytes.count)
        return bytes
    }
}
