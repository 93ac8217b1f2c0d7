@testable import LayeredDisk
import Testing

/// The marker a read carries down the stack, against a plain array of flags:
/// reads of up to 64 sectors keep their marks inline, longer ones in words
/// after the first, and both must say the same.
@Suite("Sector marker")
struct SectorMarkerTests {
    @Test("runs of unmarked sectors, one by one or all at once, match the marks made", arguments: [8, 64, 65, 200])
    func unmarkedRunsMatchTheMarks(sectorCount: Int) {
        let start: UInt64 = 1000
        let requested = start..<start + UInt64(sectorCount)
        var marker = SectorMarker(sectors: requested)
        var marked = Array(repeating: false, count: sectorCount)
        // Marks that start and end inside words and across word edges.
        for (offset, length) in [(0, 1), (3, 2), (6, 1), (60, 6), (63, 3), (70, 58), (150, 10), (199, 1)] where offset + length <= sectorCount {
            let run = start + UInt64(offset)..<start + UInt64(offset + length)
            marker.focus(on: run)
            marker.mark(run)
            marked.replaceSubrange(offset..<offset + length, with: repeatElement(true, count: length))
        }

        let expected = Self.runs(of: marked, from: start)
        #expect(marker.unmarkedRuns() == expected)
        var walked: [Range<UInt64>] = []
        var rest = requested
        while let run = marker.firstUnmarkedRun(in: rest) {
            walked.append(run)
            rest = run.upperBound..<requested.upperBound
        }
        #expect(walked == expected)
        #expect(marker.markedCount == marked.filter { $0 }.count)
        #expect(requested.allSatisfy { marker.isMarked($0) == marked[Int($0 - start)] })
        #expect(marker.isComplete == !marked.contains(false))
    }

    @Test("a run looked for inside part of the read is cut to that part")
    func runsAreCutToTheRangeAsked() {
        var marker = SectorMarker(sectors: 0..<100)
        marker.focus(on: 40..<50)
        marker.mark(40..<50)
        #expect(marker.firstUnmarkedRun(in: 30..<45) == 30..<40)
        #expect(marker.firstUnmarkedRun(in: 45..<80) == 50..<80)
        #expect(marker.firstUnmarkedRun(in: 42..<48) == nil)
        #expect(marker.unmarkedRuns(in: 35..<55) == [35..<40, 50..<55])
    }

    /// The maximal runs of `false` in `flags`, as sectors from `start`.
    private static func runs(of flags: [Bool], from start: UInt64) -> [Range<UInt64>] {
        var runs: [Range<UInt64>] = []
        var index = 0
        while index < flags.count {
            guard !flags[index] else { index += 1; continue }
            let first = index
            while index < flags.count, !flags[index] { index += 1 }
            runs.append(start + UInt64(first)..<start + UInt64(index))
        }
        return runs
    }
}
