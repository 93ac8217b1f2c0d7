/// The bytes of a read in progress, which layers fill sector by sector.
///
/// Like ``SectorMarker``, it is focused on the run of sectors the current layer
/// is asked for; a layer writes the sectors it holds and marks them there.
public struct SectorBuffer: Sendable {
    /// Every sector of the read.
    public let requestedSectors: Range<UInt64>
    /// The run the current layer is asked to supply.
    public private(set) var sectors: Range<UInt64>
    /// Bytes per sector.
    public let sectorSize: Int
    private var storage: Storage

    /// Where the bytes live: the buffer's own array, or memory the caller of
    /// a synchronous read lends for the length of that call (the reply a
    /// server is about to send), so the bytes are written once, in place.
    /// Lent memory never outlives the call, hence the unchecked `Sendable`.
    private enum Storage: @unchecked Sendable {
        case owned([UInt8])
        case lent(UnsafeMutableRawBufferPointer)
    }

    /// A zero-filled buffer for a read of `sectors`.
    public init(sectors: Range<UInt64>, sectorSize: Int) {
        requestedSectors = sectors
        self.sectors = sectors
        self.sectorSize = sectorSize
        storage = .owned(Array(repeating: 0, count: sectors.count * sectorSize))
    }

    /// A buffer over `memory`, which must stay valid while the buffer is
    /// used. Its bytes are undefined until a layer supplies them or
    /// ``zero(_:)`` clears them; a read does one or the other for each.
    init(sectors: Range<UInt64>, sectorSize: Int, lending memory: UnsafeMutableRawBufferPointer) {
        precondition(memory.count == sectors.count * sectorSize, "\(memory.count) bytes for \(sectors.count) sectors")
        requestedSectors = sectors
        self.sectors = sectors
        self.sectorSize = sectorSize
        storage = .lent(memory)
    }

    /// The bytes of every requested sector.
    public var bytes: [UInt8] {
        switch storage {
        case let .owned(bytes): bytes
        case let .lent(memory): Array(memory)
        }
    }

    /// Copies whole sectors into the current run, starting at `sector`.
    public mutating func copy(_ source: ArraySlice<UInt8>, toSector sector: UInt64) {
        precondition(source.count % sectorSize == 0, "\(source.count) bytes is not a whole number of sectors")
        withUnsafeMutableBytes(of: sector..<sector + UInt64(source.count / sectorSize)) { target in
            source.withUnsafeBytes { target.copyMemory(from: $0) }
        }
    }

    /// Lends the bytes of `range`, within the current run, to fill in place
    /// (a `pread` straight into the buffer, say).
    public mutating func withUnsafeMutableBytes<Result>(
        of range: Range<UInt64>,
        _ body: (UnsafeMutableRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        let target = byteRange(of: range)
        return try withAllBytes { try body(UnsafeMutableRawBufferPointer(rebasing: $0[target])) }
    }

    /// The bytes of some requested sectors.
    public subscript(range: Range<UInt64>) -> ArraySlice<UInt8> {
        switch storage {
        case let .owned(bytes): bytes[offsets(of: range)]
        case let .lent(memory): ArraySlice(UnsafeRawBufferPointer(rebasing: memory[offsets(of: range)]))
        }
    }

    /// Zero-fills sectors that no layer supplied.
    mutating func zero(_ range: Range<UInt64>) {
        let target = offsets(of: range)
        withAllBytes { all in
            _ = UnsafeMutableRawBufferPointer(rebasing: all[target]).initializeMemory(as: UInt8.self, repeating: 0)
        }
    }

    /// Lends every byte, the array's without copying it: the storage is
    /// emptied while the array is out, so the array stays uniquely held.
    private mutating func withAllBytes<Result>(_ body: (UnsafeMutableRawBufferPointer) throws -> Result) rethrows -> Result {
        switch storage {
        case var .owned(bytes):
            storage = .owned([])
            defer { storage = .owned(bytes) }
            return try bytes.withUnsafeMutableBytes(body)
        case let .lent(memory):
            return try body(memory)
        }
    }

    /// Points the buffer at the run the next layer is asked for.
    mutating func focus(on run: Range<UInt64>) {
        precondition(run.clamped(to: requestedSectors) == run)
        sectors = run
    }

    private func byteRange(of range: Range<UInt64>) -> Range<Int> {
        precondition(range.isEmpty || (sectors.contains(range.lowerBound) && range.upperBound <= sectors.upperBound),
                     "sectors \(range) are outside the run \(sectors)")
        return offsets(of: range)
    }

    private func offsets(of range: Range<UInt64>) -> Range<Int> {
        let start = Int(range.lowerBound - requestedSectors.lowerBound) * sectorSize
        return start..<start + range.count * sectorSize
    }
}
