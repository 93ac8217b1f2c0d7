@testable import Fetching
import Testing

/// Bytes in the network's pieces, out in runs on the unit's boundaries.
@Suite("Gathering fetched bytes into aligned runs")
struct WriteGatheringTests {
    /// Feeds `pieces` (offset, length) of a byte pattern through a
    /// gathering of `unit`, flushes, and returns the runs written and the
    /// bytes they carried, by offset.
    static func gather(unit: Int, _ pieces: [(offset: Int, length: Int)]) -> (runs: [Range<Int>], bytes: [Int: UInt8]) {
        var gathering = WriteGathering(unit: unit)
        var runs: [Range<Int>] = []
        var bytes: [Int: UInt8] = [:]
        let write = { (run: UnsafeRawBufferPointer, offset: UInt64) in
            runs.append(Int(offset)..<Int(offset) + run.count)
            for (index, byte) in run.enumerated() { bytes[Int(offset) + index] = byte }
        }
        for piece in pieces {
            let pattern = (piece.offset..<piece.offset + piece.length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            pattern.withUnsafeBytes { gathering.add($0, at: UInt64(piece.offset), write: write) }
        }
        gathering.flush(write: write)
        return (runs, bytes)
    }

    @Test func piecesCutAsCurlCutsThemLeaveInAlignedRuns() {
        let (runs, bytes) = Self.gather(unit: 16, [(100, 10), (110, 16), (126, 16), (142, 3)])
        #expect(runs == [100..<112, 112..<128, 128..<144, 144..<145])
        #expect(bytes.count == 45)
        #expect(bytes.allSatisfy { $0.value == UInt8(truncatingIfNeeded: $0.key &* 31) })
    }

    @Test func aPieceSpanningSeveralUnitsIsCutAtEachBoundary() {
        let (runs, _) = Self.gather(unit: 16, [(8, 40)])
        #expect(runs == [8..<16, 16..<32, 32..<48])
    }

    /// A retried request hands bytes over again from an earlier offset: what
    /// was gathered goes first, and gathering starts over there.
    @Test func bytesThatDoNotFollowSendTheGatheredOnesFirst() {
        let (runs, bytes) = Self.gather(unit: 16, [(0, 20), (10, 12)])
        #expect(runs == [0..<16, 16..<20, 10..<16, 16..<22])
        #expect(bytes.allSatisfy { $0.value == UInt8(truncatingIfNeeded: $0.key &* 31) })
    }
}
