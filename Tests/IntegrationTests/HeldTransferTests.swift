import Fetching
import Foundation
import HTTPClient
import HTTPTestServers
import ImageModel
import RemoteImage
import Synchronization
import Testing

/// A transfer whose sink has no room pauses, and its bytes come again once
/// resumed: `--no-cache`'s readahead waits in the socket, not in memory.
@Suite("Held transfers")
struct HeldTransferTests {
    /// A sink that refuses its first `refusals` pieces, asking the image
    /// to resume each time, and keeps the rest where they belong.
    final class RefusingSink: FetchSink {
        struct State {
            var refusalsLeft: Int
            var offered: [UInt64] = []
            var bytes: [UInt8]
        }
        let state: Mutex<State>
        let image: RemoteImage
        let start: UInt64

        init(image: RemoteImage, range: Range<UInt64>, refusals: Int) {
            self.image = image
            start = range.lowerBound
            state = Mutex(State(refusalsLeft: refusals, bytes: [UInt8](repeating: 0, count: range.count)))
        }

        func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
            let refused = state.withLock { state in
                state.offered.append(offset)
                guard state.refusalsLeft == 0 else {
                    state.refusalsLeft -= 1
                    return true
                }
                let at = Int(offset - start)
                state.bytes.replaceSubrange(at..<at + bytes.count, with: bytes)
                return false
            }
            if refused {
                image.resumeHeldReads()
                throw FetchSinkIsFull()
            }
        }
    }

    /// The refused pieces are offered again, the body arrives whole and
    /// exact, and in the one request: a pause is not a failure to retry.
    @Test func aPausedTransferDeliversItsBodyWholeOnceResumed() async throws {
        let root = try TemporaryDirectory()
        let file = root.url.appending(path: "held.img")
        try randomFile(at: file, size: 4 << 20)
        let nginx = try NginxServer(root: root.url)
        let image = try await openImage(nginx.url("held.img"))
        #expect(image.holdsReadsForFullSinks)
        let range: Range<UInt64> = (1 << 20)..<(3 << 20)
        let sink = RefusingSink(image: image, range: range, refusals: 3)

        try await image.read(range, for: .readahead, into: sink)

        let expected = try Data(contentsOf: file)[Int(range.lowerBound)..<Int(range.upperBound)]
        let (offered, bytes, left) = sink.state.withLock { ($0.offered, $0.bytes, $0.refusalsLeft) }
        #expect(left == 0)
        #expect(Data(bytes) == expected)
        #expect(Array(offered.prefix(4)) == [range.lowerBound, range.lowerBound, range.lowerBound, range.lowerBound],
                "the refused piece was offered again, three times")
        #expect(nginx.accessLog.filter { $0.hasPrefix("GET /held.img") && $0.contains("bytes=\(range.lowerBound)-") }.count == 1)
    }
}
