/// Records which sectors of a read have been supplied so far.
///
/// A layered read hands each layer the marker focused on the run of sectors it
/// is asked for; the layer marks the sectors it holds, and whatever stays
/// unmarked is asked of the layers below, or reads as zeros at the bottom.
public struct SectorMarker: Sendable {
    /// Every sector of the read this marker tracks.
    public let requestedSectors: Range<UInt64>
    /// The run the current layer is asked to supply; it may mark only these.
    public private(set) var sectors: Range<UInt64>
    /// Bit `i % 64` of word `i / 64` is set once sector `requested.lowerBound + i` is supplied.
    private var words: [UInt64]
    /// How many sectors of the whole read are marked.
    public private(set) var markedCount = 0

    /// A marker for a read of `sectors`, none of them marked yet.
    public init(sectors: Range<UInt64>) {
        requestedSectors = sectors
        self.sectors = sectors
        words = Array(repeating: 0, count: (sectors.count + 63) / 64)
    }

    /// Whether every sector of the read has been supplied.
    public var isComplete: Bool { markedCount == requestedSectors.count }

    /// Marks one sector of the current run as supplied.
    public mutating func mark(_ sector: UInt64) {
        mark(sector..<sector + 1)
    }

    /// Marks a range of the current run as supplied.
    public mutating func mark(_ range: Range<UInt64>) {
        precondition(range.isEmpty || (sectors.contains(range.lowerBound) && range.upperBound <= sectors.upperBound),
                     "sectors \(range) are outside the run \(sectors)")
        var index = offset(of: range.lowerBound)
        let end = offset(of: range.upperBound)
        while index < end {
            let bit = index % 64
            let width = min(64 - bit, end - index)
            let mask = (width == 64 ? UInt64.max : (1 << width) - 1) << bit
            markedCount += (mask & ~words[index / 64]).nonzeroBitCount
            words[index / 64] |= mask
            index += width
        }
    }

    /// Marks the whole current run, as a layer that holds every sector does.
    public mutating func markAll() {
        mark(sectors)
    }

    /// Whether `sector` has been supplied by this or an earlier layer.
    public func isMarked(_ sector: UInt64) -> Bool {
        let index = offset(of: sector)
        return words[index / 64] & (1 << (index % 64)) != 0
    }

    /// The maximal runs of unmarked sectors within `range` (the whole read by
    /// default), in ascending order.
    public func unmarkedRuns(in range: Range<UInt64>? = nil) -> [Range<UInt64>] {
        let range = range ?? requestedSectors
        var runs: [Range<UInt64>] = []
        var index = offset(of: range.lowerBound)
        let end = offset(of: range.upperBound)
        while index < end {
            let start = nextIndex(from: index, to: end, marked: false)
            guard start < end else { break }
            index = nextIndex(from: start, to: end, marked: true)
            runs.append(sector(at: start)..<sector(at: index))
        }
        return runs
    }

    /// Points the marker at the run the next layer is asked for.
    mutating func focus(on run: Range<UInt64>) {
        precondition(run.clamped(to: requestedSectors) == run)
        sectors = run
    }

    /// The first index in `index..<end` whose bit equals `marked`, or `end`.
    private func nextIndex(from index: Int, to end: Int, marked: Bool) -> Int {
        var index = index
        while index < end {
            let word = marked ? words[index / 64] : ~words[index / 64]
            let remaining = word >> (index % 64)
            if remaining != 0 {
                return min(index + remaining.trailingZeroBitCount, end)
            }
            index = (index / 64 + 1) * 64
        }
        return end
    }

    private func offset(of sector: UInt64) -> Int {
        Int(sector - requestedSectors.lowerBound)
    }

    private func sector(at offset: Int) -> UInt64 {
        requestedSectors.lowerBound + UInt64(offset)
    }
}
