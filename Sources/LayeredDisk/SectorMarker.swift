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
    /// The first word is kept inline, so a read of up to 64 sectors (every
    /// 4 KiB guest read) marks its sectors without allocating.
    private var firstWord: UInt64 = 0
    /// Words 1 and up; empty for reads of 64 sectors or fewer.
    private var laterWords: [UInt64]
    /// How many sectors of the whole read are marked.
    public private(set) var markedCount = 0

    /// A marker for a read of `sectors`, none of them marked yet.
    public init(sectors: Range<UInt64>) {
        requestedSectors = sectors
        self.sectors = sectors
        laterWords = Array(repeating: 0, count: max(0, (sectors.count + 63) / 64 - 1))
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
            markedCount += (mask & ~word(index / 64)).nonzeroBitCount
            setBits(mask, ofWord: index / 64)
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
        return word(index / 64) & (1 << (index % 64)) != 0
    }

    /// The maximal runs of unmarked sectors within `range` (the whole read by
    /// default), in ascending order.
    public func unmarkedRuns(in range: Range<UInt64>? = nil) -> [Range<UInt64>] {
        var runs: [Range<UInt64>] = []
        forEachUnmarkedRun(in: range ?? requestedSectors) { runs.append($0) }
        return runs
    }

    /// Hands `body` the maximal runs of unmarked sectors within `range`, in
    /// ascending order, making no array of them.
    public func forEachUnmarkedRun(in range: Range<UInt64>, _ body: (Range<UInt64>) throws -> Void) rethrows {
        var rest = range
        while let run = firstUnmarkedRun(in: rest) {
            try body(run)
            rest = run.upperBound..<range.upperBound
        }
    }

    /// The first maximal run of unmarked sectors within `range`, if any: a
    /// read walks the runs one by one with this while its layers mark them.
    public func firstUnmarkedRun(in range: Range<UInt64>) -> Range<UInt64>? {
        let end = offset(of: range.upperBound)
        let start = nextIndex(from: offset(of: range.lowerBound), to: end, marked: false)
        guard start < end else { return nil }
        return sector(at: start)..<sector(at: nextIndex(from: start, to: end, marked: true))
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
            let word = marked ? word(index / 64) : ~word(index / 64)
            let remaining = word >> (index % 64)
            if remaining != 0 {
                return min(index + remaining.trailingZeroBitCount, end)
            }
            index = (index / 64 + 1) * 64
        }
        return end
    }

    private func word(_ index: Int) -> UInt64 {
        index == 0 ? firstWord : laterWords[index - 1]
    }

    private mutating func setBits(_ mask: UInt64, ofWord index: Int) {
        if index == 0 {
            firstWord |= mask
        } else {
            laterWords[index - 1] |= mask
        }
    }

    private func offset(of sector: UInt64) -> Int {
        Int(sector - requestedSectors.lowerBound)
    }

    private func sector(at offset: Int) -> UInt64 {
        requestedSectors.lowerBound + UInt64(offset)
    }
}
