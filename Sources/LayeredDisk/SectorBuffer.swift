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
    /// The bytes of every requested sector, zero until a layer supplies them.
    public private(set) var bytes: [UInt8]

    /// A zero-filled buffer for a read of `sectors`.
    public init(sectors: Range<UInt64>, sectorSize: Int) {
        requestedSectors = sectors
        self.sectors = sectors
        self.sectorSize = sectorSize
        bytes = Array(repeating: 0, count: sectors.count * sectorSize)
    }

    /// Copies whole sectors into the current run, starting at `sector`.
    public mutating func copy(_ source: ArraySlice<UInt8>, toSector sector: UInt64) {
        precondition(source.count % sectorSize == 0, "\(source.count) bytes is not a whole number of sectors")
        let target = byteRange(of: sector..<sector + UInt64(source.count / sectorSize))
        bytes.withUnsafeMutableBytes { all in
            source.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: all[target]).copyMemory(from: $0) }
        }
    }

    /// Lends the bytes of `range`, within the current run, to fill in place
    /// (a `pread` straight into the buffer, say).
    public mutating func withUnsafeMutableBytes<Result>(
        of range: Range<UInt64>,
        _ body: (UnsafeMutableRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        let target = byteRange(of: range)
        return try bytes.withUnsafeMutableBytes { all in
            try body(UnsafeMutableRawBufferPointer(rebasing: all[target]))
        }
    }

    /// The bytes of some requested sectors.
    public subscript(range: Range<UInt64>) -> ArraySlice<UInt8> {
        bytes[offsets(of: range)]
    }

    /// Zero-fills sectors that no layer supplied.
    mutating func zero(_ range: Range<UInt64>) {
        let target = offsets(of: range)
        bytes.withUnsafeMutableBytes { all in
            _ = UnsafeMutableRawBufferPointer(rebasing: all[target]).initializeMemory(as: UInt8.self, repeating: 0)
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
