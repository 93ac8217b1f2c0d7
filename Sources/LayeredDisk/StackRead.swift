/// One read on its way down a ``LayeredDisk``'s layers: the bytes gathered so
/// far, which sectors they cover, and which read caches want what the layers
/// below them supplied.
struct StackRead {
    var buffer: SectorBuffer
    var marker: SectorMarker
    private(set) var cacheFills: [(layer: Int, sectors: Range<UInt64>)] = []

    init(into buffer: SectorBuffer) {
        self.buffer = buffer
        marker = SectorMarker(sectors: buffer.requestedSectors)
    }

    /// Whether no layer needs to be asked for anything more.
    var isComplete: Bool { marker.isComplete }

    /// The first run from `position` on that `layer`, at `index` in the
    /// stack, is asked for: sectors still missing that it can show. Below
    /// the top, sectors past a layer's visible count read as zeros from there
    /// down (visible counts only shrink going down), so no layer is asked
    /// for them.
    ///
    /// A layer marks only inside the run it is asked for, so walking from
    /// each run's end gives the runs that were missing when it was first
    /// asked, one at a time and with no array made: a read stays free of
    /// allocations on its way down.
    func nextRun(for layer: StackLayer, at index: Int, from position: UInt64) -> Range<UInt64>? {
        guard let run = marker.firstUnmarkedRun(in: position..<marker.requestedSectors.upperBound) else { return nil }
        let end = index == 0 ? run.upperBound : min(run.upperBound, layer.visibleSectorCount)
        return run.lowerBound < end ? run.lowerBound..<end : nil
    }

    /// Points buffer and marker at the run the next layer is asked for.
    mutating func focus(on run: Range<UInt64>) {
        buffer.focus(on: run)
        marker.focus(on: run)
    }

    /// After `layer` was asked for `run`: when it is a read cache the stack
    /// fills (one without a filler), it is to keep whatever the layers below
    /// supply of that run.
    mutating func noteAsked(_ layer: StackLayer, at index: Int, for run: Range<UInt64>) {
        if layer.readCache != nil && layer.filler == nil {
            cacheFills += marker.unmarkedRuns(in: run).map { (index, $0) }
        }
    }

    /// Zero-fills what no layer supplied: then every byte of the buffer is
    /// defined, lent memory included.
    mutating func finish() {
        for missing in marker.unmarkedRuns() {
            buffer.zero(missing)
        }
    }
}
