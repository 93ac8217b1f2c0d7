@testable import Fetching
import Synchronization
import Testing

/// Reads waiting on a request's chunks as its bytes come in order.
@Suite("Arrival of a request's chunks")
struct ArrivalTests {
    struct Broken: Error, Equatable {}

    /// The runs of chunks an arrival made readable, in order.
    final class ReadableLog: Sendable {
        private let runs = Mutex<[Range<Int>]>([])
        var all: [Range<Int>] { runs.withLock { $0 } }
        func add(_ chunks: Range<Int>) { runs.withLock { $0.append(chunks) } }
    }

    /// An arrival of chunks 10..<20 that logs what it makes readable.
    static func arrival() -> (Arrival, ReadableLog) {
        let log = ReadableLog()
        return (Arrival(chunks: 10..<20, makeReadable: log.add), log)
    }

    /// Waits for `read`. Should it never wake, the time limit cancels the
    /// test, and settling the arrival lets the run go on.
    static func finish(_ read: Task<Void, any Error>, settling arrival: Arrival) async throws {
        try await withTaskCancellationHandler {
            try await read.value
        } onCancel: {
            arrival.arrived()
        }
    }

    /// A read wanting chunks before 12 wakes once they are written, however
    /// its wait and the writes interleave, and the chunks written are made
    /// readable once, before it wakes; none past them are.
    @Test(.timeLimit(.minutes(5))) func aReadWakesOnceItsChunksAreWritten() async throws {
        let (arrival, madeReadable) = Self.arrival()
        let read = Task { try await arrival.wait(forChunksBefore: 12) }
        arrival.written(chunksBefore: 11)
        #expect(madeReadable.all.isEmpty, "no read wants chunk 10 alone")
        arrival.written(chunksBefore: 12)
        try await Self.finish(read, settling: arrival)
        #expect(madeReadable.all == [10..<12])
        try await arrival.wait(forChunksBefore: 11)
        #expect(madeReadable.all == [10..<12], "what is readable is not made so again")
        #expect(arrival.readableChunks == 10..<12)
    }

    /// A read wanting chunks the request never wrote gets its error; what
    /// was made readable before stays so (the caller commits it).
    @Test(.timeLimit(.minutes(5))) func aReadPastWhatWasWrittenGetsTheFailure() async throws {
        let (arrival, _) = Self.arrival()
        arrival.written(chunksBefore: 13)
        try await arrival.wait(forChunksBefore: 13)
        let read = Task { try await arrival.wait(forChunksBefore: 15) }
        arrival.failed(Broken())
        await #expect(throws: Broken.self) { try await Self.finish(read, settling: arrival) }
        #expect(arrival.readableChunks == 10..<13)
    }

    /// Once the request arrived (every chunk made readable by its fetch), a
    /// read returns without asking for anything.
    @Test func aReadAfterTheArrivalReturnsAtOnce() async throws {
        let (arrival, madeReadable) = Self.arrival()
        arrival.arrived()
        try await arrival.wait(forChunksBefore: 20)
        #expect(madeReadable.all.isEmpty)
    }
}
