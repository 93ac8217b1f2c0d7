import Fetching
import HTTPTestServers
import RemoteImage
import Synchronization
import Testing

/// A body streamed to a sink as it arrives: in pieces, each at its offset,
/// only from an answer that carries the range, and stopped by the sink.
@Suite("Streamed reads")
struct StreamedReadTests {
    static let content = testBytes(count: 4 << 20)

    /// Keeps what it is handed, where it belongs; refuses once `refusesAfter`
    /// bytes came, if set.
    final class RecordingSink: FetchSink {
        struct Refused: Error {}
        private let state = Mutex<(pieces: [Range<UInt64>], bytes: [UInt8])>(([], []))
        private let refusesAfter: Int?

        init(size: Int, refusesAfter: Int? = nil) {
            state.withLock { $0.bytes = [UInt8](repeating: 0, count: size) }
            self.refusesAfter = refusesAfter
        }

        var pieces: [Range<UInt64>] { state.withLock(\.pieces) }
        var bytes: [UInt8] { state.withLock(\.bytes) }

        func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
            try state.withLock { state in
                let received = state.pieces.reduce(0) { $0 + $1.count }
                if let refusesAfter, received >= refusesAfter { throw Refused() }
                state.pieces.append(offset..<offset + UInt64(bytes.count))
                state.bytes.replaceSubrange(Int(offset)..<Int(offset) + bytes.count, with: bytes)
            }
        }
    }

    /// 3 MiB from offset 1 MiB arrive in many pieces, none larger than
    /// curl's receive buffer, back to back from the first byte, and hold the
    /// object's bytes.
    @Test func aLargeRangeArrivesInPiecesAtTheirOffsets() async throws {
        let server = try await FaultServer.start(content: Self.content, fault: .none)
        let image = try await openImage(server.url)
        let sink = RecordingSink(size: Self.content.count)
        try await image.read(1 << 20..<4 << 20, for: .fill, into: sink)
        let pieces = sink.pieces
        #expect(pieces.count > 1 && pieces.allSatisfy { $0.count <= 256 << 10 }, "\(pieces.count) pieces")
        #expect(pieces.first?.lowerBound == 1 << 20 && pieces.last?.upperBound == 4 << 20)
        #expect(zip(pieces, pieces.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(Array(sink.bytes[1 << 20..<4 << 20]) == Array(Self.content[1 << 20..<4 << 20]))
    }

    /// Two 500s with their error pages, then the range: the sink sees the
    /// range's bytes once and nothing of the error pages.
    @Test func anErrorAnswersBodyNeverReachesTheSink() async throws {
        let server = try await FaultServer.start(content: Self.content, fault: .serverError(times: 2))
        let image = try await openImage(server.url)
        let sink = RecordingSink(size: Self.content.count)
        try await image.read(0..<65536, for: .fill, into: sink)
        #expect(server.requests.filter { $0.range == "bytes=0-65535" }.map(\.status) == [500, 500, 206])
        #expect(sink.pieces.reduce(0) { $0 + $1.count } == 65536)
        #expect(Array(sink.bytes[..<65536]) == Array(Self.content[..<65536]))
    }

    /// A sink that refuses (a full disk) ends the read with its own error,
    /// and the range is not asked for again.
    @Test func aRefusingSinkEndsTheReadWithoutARetry() async throws {
        let server = try await FaultServer.start(content: Self.content, fault: .none)
        let image = try await openImage(server.url)
        let sink = RecordingSink(size: Self.content.count, refusesAfter: 1)
        await #expect(throws: RecordingSink.Refused.self) {
            try await image.read(0..<(2 << 20), for: .fill, into: sink)
        }
        #expect(server.requests.filter { $0.range == "bytes=0-2097151" }.count == 1)
    }
}
