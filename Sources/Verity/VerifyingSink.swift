import FileCache
import Fetching
import Synchronization

/// Checks a fetch's bytes block by block and passes on only the blocks that
/// match their digests (and, of those, the bytes the fetch wanted). The
/// blocks that did not match are listed for the source to fetch again;
/// nothing of them reaches the sink below.
///
/// Hashing costs more than receiving (SHA-256 runs at about 1.4 GB/s a core
/// here), so it is kept off the source's thread, which carries every
/// transfer: the bytes are gathered in batches of 128 KiB, and each batch is
/// checked and passed on by the blocking pool (it writes to the cache).
/// While ``batchesInFlight`` batches of any fetch wait there, the source's
/// thread checks the next one itself, which bounds the memory a fast link
/// can fill (512 KiB for the process).
final class VerifyingSink: FetchSink {
    static let batchBytes = 128 << 10
    static let batchesInFlight = 4
    /// Batches handed to the pool and not yet checked, over every fetch.
    private static let running = Atomic<Int>(0)

    private let downstream: any FetchSink
    private let digests: BlockDigests
    private let blockSize: Int
    private let wanted: Range<UInt64>
    private let state: Mutex<State>

    private struct State {
        /// Where the batch being gathered starts.
        var batchStart: UInt64
        var batch: [UInt8] = []
        var checks: [Task<[UInt64], any Error>] = []
        /// Blocks that failed in batches checked on the source's thread.
        var failedHere: [UInt64] = []
    }

    /// A sink for the bytes of whole blocks from `start`, which forwards
    /// those within `wanted`.
    init(downstream: any FetchSink, digests: BlockDigests, blockSize: Int, start: UInt64, wanted: Range<UInt64>) {
        self.downstream = downstream
        self.digests = digests
        self.blockSize = blockSize
        self.wanted = wanted
        state = Mutex(State(batchStart: start))
    }

    /// Once every byte arrived: checks what is left, waits for every batch,
    /// and returns the blocks that did not match. Throws when the bytes
    /// ended inside a block, or a batch could not be passed on.
    func finish() async throws -> [UInt64] {
        let (checks, failedHere) = try state.withLock { state in
            guard state.batch.count % blockSize == 0 else { throw HashTreeError.malformed("the image's bytes ended inside a block") }
            if !state.batch.isEmpty { try dispatch(&state, inline: true) }
            return (state.checks, state.failedHere)
        }
        var failed = failedHere
        for check in checks {
            failed += try await check.value
        }
        return failed.sorted()
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        try state.withLock { state in
            let next = state.batchStart + UInt64(state.batch.count)
            // A retried transfer hands over again bytes it handed before.
            guard offset + UInt64(bytes.count) > next else { return }
            guard offset <= next else { throw HashTreeError.malformed("bytes arrived at \(offset), where \(next) was next") }
            var rest = UnsafeRawBufferPointer(rebasing: bytes[Int(next - offset)...])
            while !rest.isEmpty {
                if state.batch.isEmpty { state.batch.reserveCapacity(Self.batchBytes) }
                let taken = min(rest.count, Self.batchBytes - state.batch.count)
                state.batch.append(contentsOf: rest[..<taken])
                rest = UnsafeRawBufferPointer(rebasing: rest[taken...])
                if state.batch.count == Self.batchBytes {
                    try dispatch(&state, inline: Self.running.load(ordering: .relaxed) >= Self.batchesInFlight)
                }
            }
        }
    }

    /// Hands the gathered batch to the pool, or checks it here.
    private func dispatch(_ state: inout State, inline: Bool) throws {
        let batch = state.batch
        let start = state.batchStart
        state.batchStart += UInt64(batch.count)
        state.batch = []
        if inline {
            state.failedHere += try check(batch, at: start)
            return
        }
        Self.running.add(1, ordering: .relaxed)
        state.checks.append(Task { [self] in
            defer { Self.running.subtract(1, ordering: .relaxed) }
            return try await BlockingWork.run { try self.check(batch, at: start) }
        })
    }

    /// Checks each block of `batch` (at byte `start`), passes on runs of
    /// good ones, and returns the bad ones.
    private func check(_ batch: [UInt8], at start: UInt64) throws -> [UInt64] {
        var failed: [UInt64] = []
        try batch.withUnsafeBytes { raw in
            var good = 0..<0
            func passOn() throws {
                guard !good.isEmpty else { return }
                try forward(UnsafeRawBufferPointer(rebasing: raw[good]), at: start + UInt64(good.lowerBound), to: downstream, wanted: wanted)
            }
            for offset in stride(from: 0, to: raw.count, by: blockSize) {
                let block = UnsafeRawBufferPointer(rebasing: raw[offset..<offset + blockSize])
                let index = (start + UInt64(offset)) / UInt64(blockSize)
                if digests.matches(block, ofBlock: index) {
                    good = good.isEmpty ? offset..<offset + blockSize : good.lowerBound..<offset + blockSize
                } else {
                    try passOn()
                    good = 0..<0
                    failed.append(index)
                }
            }
            try passOn()
        }
        return failed
    }
}

/// Writes the part of `bytes` (at `start`) that lies within `wanted`.
func forward(_ bytes: UnsafeRawBufferPointer, at start: UInt64, to sink: any FetchSink, wanted: Range<UInt64>) throws {
    let lower = max(start, wanted.lowerBound)
    let upper = min(start + UInt64(bytes.count), wanted.upperBound)
    guard lower < upper else { return }
    try sink.write(UnsafeRawBufferPointer(rebasing: bytes[Int(lower - start)..<Int(upper - start)]), at: lower)
}
