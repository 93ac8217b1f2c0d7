import Fetching
import Synchronization

/// Checks a fetch's bytes block by block as they stream in and passes on
/// only the blocks that match their digests (and, of those, the bytes the
/// fetch wanted). The blocks that did not match are listed for the source
/// to fetch again; nothing of them reaches the sink below.
final class VerifyingSink: FetchSink {
    private let downstream: any FetchSink
    private let digests: BlockDigests
    private let hasher: BlockHasher
    private let blockSize: Int
    private let wanted: Range<UInt64>
    private let state: Mutex<State>

    private struct State {
        /// Where the block being gathered starts.
        var blockStart: UInt64
        var staging: [UInt8] = []
        var failedBlocks: [UInt64] = []
    }

    /// A sink for the bytes of whole blocks from `start`, which forwards
    /// those within `wanted`.
    init(downstream: any FetchSink, digests: BlockDigests, hasher: BlockHasher, blockSize: Int, start: UInt64, wanted: Range<UInt64>) {
        self.downstream = downstream
        self.digests = digests
        self.hasher = hasher
        self.blockSize = blockSize
        self.wanted = wanted
        state = Mutex(State(blockStart: start))
    }

    /// The blocks that did not match, once every byte arrived; throws when
    /// the bytes ended inside a block.
    func failedBlocks() throws -> [UInt64] {
        try state.withLock { state in
            guard state.staging.isEmpty else { throw HashTreeError.malformed("the image's bytes ended inside a block") }
            return state.failedBlocks
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        try state.withLock { state in
            let next = state.blockStart + UInt64(state.staging.count)
            // A retried transfer hands over again bytes it handed before.
            guard offset + UInt64(bytes.count) > next else { return }
            guard offset <= next else { throw HashTreeError.malformed("bytes arrived at \(offset), where \(next) was next") }
            var rest = UnsafeRawBufferPointer(rebasing: bytes[Int(next - offset)...])
            while !rest.isEmpty {
                if state.staging.isEmpty && rest.count >= blockSize {
                    try take(UnsafeRawBufferPointer(rebasing: rest[..<blockSize]), state: &state)
                    rest = UnsafeRawBufferPointer(rebasing: rest[blockSize...])
                    continue
                }
                let taken = min(rest.count, blockSize - state.staging.count)
                state.staging += rest[..<taken]
                rest = UnsafeRawBufferPointer(rebasing: rest[taken...])
                if state.staging.count == blockSize {
                    let block = state.staging
                    try block.withUnsafeBytes { try take($0, state: &state) }
                    state.staging.removeAll(keepingCapacity: true)
                }
            }
        }
    }

    private func take(_ block: UnsafeRawBufferPointer, state: inout State) throws {
        let start = state.blockStart
        state.blockStart += UInt64(blockSize)
        let index = start / UInt64(blockSize)
        guard digests.withExpectedDigest(ofBlock: index, { $0.map { hasher.matches(block, expected: $0) } ?? false }) else {
            state.failedBlocks.append(index)
            return
        }
        try forward(block, at: start, to: downstream, wanted: wanted)
    }
}

/// Writes the part of `block` (at `start`) that lies within `wanted`.
func forward(_ block: UnsafeRawBufferPointer, at start: UInt64, to sink: any FetchSink, wanted: Range<UInt64>) throws {
    let lower = max(start, wanted.lowerBound)
    let upper = min(start + UInt64(block.count), wanted.upperBound)
    guard lower < upper else { return }
    try sink.write(UnsafeRawBufferPointer(rebasing: block[Int(lower - start)..<Int(upper - start)]), at: lower)
}
