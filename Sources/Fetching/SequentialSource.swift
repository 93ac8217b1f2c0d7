import LayeredDisk
import Synchronization

/// The bytes of an object whose server ignores `Range` (it answers every
/// request with the whole object, as `python3 -m http.server` does), read by
/// one streamed download in order and kept in a chunk store.
///
/// The download starts with the first read. Each piece that arrives goes to
/// the sink of every read waiting for those bytes, and the rest into the
/// store, so the bytes are written once and nothing is held in memory; a
/// read is answered once the download has passed its range (a read of bytes
/// it passed already gets them from the store). A download that breaks
/// starts again from byte 0, as such a server cannot resume, and skips what
/// the store already has; it gives up after `retries` attempts in a row that
/// brought nothing new.
public final class SequentialSource: RangeSource {
    /// One GET of the whole object, its bytes to the sink from byte 0.
    public typealias Download = @Sendable (any FetchSink) async throws -> Void

    private let download: Download
    private let store: any ChunkStore
    private let size: UInt64
    private let retries: Int
    private let state = Mutex(State())

    private struct State {
        /// Bytes of the object in the store or handed to a reader, in order.
        var position: UInt64 = 0
        var running: Task<Void, Never>?
        var waiting: [Waiter] = []
    }

    private struct Waiter {
        let range: Range<UInt64>
        let sink: any FetchSink
        /// Whether the read takes its bytes from the store once passed.
        let copiesFromStore: Bool
        let continuation: CheckedContinuation<Bool, any Error>
        var sinkFailure: (any Error)?
    }

    public init(size: UInt64, store: any ChunkStore, retries: Int, download: @escaping Download) {
        self.size = size
        self.store = store
        self.retries = retries
        self.download = download
    }

    public func read(_ range: Range<UInt64>, for purpose: FetchPurpose) async throws -> [UInt8] {
        let gathered = GatheringSink(range: range)
        try await read(range, for: purpose, into: gathered)
        return gathered.bytes
    }

    public func read(_ range: Range<UInt64>, for purpose: FetchPurpose, into sink: any FetchSink) async throws {
        let copiesFromStore: Bool = try await withCheckedThrowingContinuation { continuation in
            state.withLock { state in
                guard range.upperBound > state.position else {
                    return continuation.resume(returning: true)
                }
                // A range the download has partly passed waits for the rest,
                // then is copied whole from the store.
                let partlyPassed = range.lowerBound < state.position
                state.waiting.append(Waiter(
                    range: partlyPassed ? state.position..<range.upperBound : range, sink: partlyPassed ? NoSink() : sink,
                    copiesFromStore: partlyPassed, continuation: continuation))
                startIfIdle(&state)
            }
        }
        if copiesFromStore {
            try copyStored(range, to: sink)
        }
    }

    /// Starts the download unless it runs; a failed one is forgotten, so a
    /// new read tries again.
    private func startIfIdle(_ state: inout State) {
        guard state.running == nil else { return }
        state.running = Task { await self.run() }
    }

    private func run() async {
        var fruitless = 0
        while true {
            let before = state.withLock(\.position)
            do {
                try await download(Tee(source: self))
                if state.withLock({ $0.position }) >= size {
                    return finish(with: nil)
                }
                throw SequentialSourceError.shortDownload(received: state.withLock(\.position), size: size)
            } catch {
                fruitless = state.withLock(\.position) > before ? 0 : fruitless + 1
                if fruitless > retries {
                    return finish(with: error)
                }
            }
        }
    }

    /// Ends the download: with `error`, every waiting read fails with it.
    private func finish(with error: (any Error)?) {
        let waiting = state.withLock { state in
            state.running = nil
            defer { state.waiting = [] }
            return error == nil ? [] : state.waiting
        }
        for waiter in waiting {
            waiter.continuation.resume(throwing: error!)
        }
    }

    /// A piece of the download at `offset`: the part the store or a reader
    /// has already is skipped; the rest goes to the readers waiting for it
    /// and into the store, and readers whose ranges it completes go on.
    fileprivate func arrived(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        let end = offset + UInt64(bytes.count)
        let done: [Waiter] = try state.withLock { state in
            guard end > state.position else { return [] }
            let start = max(offset, state.position)
            let fresh = UnsafeRawBufferPointer(rebasing: bytes[Int(start - offset)...])
            try store.writeFetched(fresh, at: start)
            for index in state.waiting.indices where state.waiting[index].sinkFailure == nil {
                let wanted = state.waiting[index].range.clamped(to: start..<end)
                guard !wanted.isEmpty else { continue }
                let slice = UnsafeRawBufferPointer(rebasing: bytes[Int(wanted.lowerBound - offset)..<Int(wanted.upperBound - offset)])
                do {
                    try state.waiting[index].sink.write(slice, at: wanted.lowerBound)
                } catch {
                    state.waiting[index].sinkFailure = error
                }
            }
            state.position = end
            let done = state.waiting.filter { $0.range.upperBound <= end || $0.sinkFailure != nil }
            state.waiting.removeAll { $0.range.upperBound <= end || $0.sinkFailure != nil }
            return done
        }
        for waiter in done {
            if let failure = waiter.sinkFailure {
                waiter.continuation.resume(throwing: failure)
            } else {
                waiter.continuation.resume(returning: waiter.copiesFromStore)
            }
        }
    }

    /// Hands `range`, which the download has passed, from the store to `sink`.
    private func copyStored(_ range: Range<UInt64>, to sink: any FetchSink) throws {
        var offset = range.lowerBound
        var piece = [UInt8](repeating: 0, count: Self.copyPiece)
        while offset < range.upperBound {
            let count = Int(min(UInt64(Self.copyPiece), range.upperBound - offset))
            try piece.withUnsafeMutableBytes { buffer in
                let target = UnsafeMutableRawBufferPointer(rebasing: buffer[..<count])
                try store.readHeld(offset..<offset + UInt64(count), into: target)
                try sink.write(UnsafeRawBufferPointer(target), at: offset)
            }
            offset += UInt64(count)
        }
    }

    private static let copyPiece = 256 << 10
}

/// Why a download of the whole object did not bring all of it.
public enum SequentialSourceError: Error, CustomStringConvertible {
    case shortDownload(received: UInt64, size: UInt64)

    public var description: String {
        switch self {
        case let .shortDownload(received, size): "the download of the whole object ended after \(received) of \(size) bytes"
        }
    }
}

/// The download's sink: every piece goes to the source.
private struct Tee: FetchSink {
    let source: SequentialSource

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        try source.arrived(bytes, at: offset)
    }
}

/// For a read that copies from the store once the download has passed it.
private struct NoSink: FetchSink {
    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {}
}

/// Gathers a range's bytes in memory, for ``SequentialSource/read(_:for:)``.
private final class GatheringSink: FetchSink {
    private let range: Range<UInt64>
    private let gathered: Mutex<[UInt8]>

    init(range: Range<UInt64>) {
        self.range = range
        gathered = Mutex([UInt8](repeating: 0, count: range.count))
    }

    var bytes: [UInt8] { gathered.withLock { $0 } }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        gathered.withLock { gathered in
            let start = Int(offset - range.lowerBound)
            gathered.withUnsafeMutableBytes { target in
                UnsafeMutableRawBufferPointer(rebasing: target[start..<start + bytes.count]).copyMemory(from: bytes)
            }
        }
    }
}
