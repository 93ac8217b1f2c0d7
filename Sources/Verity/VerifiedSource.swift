import Fetching
import Synchronization

/// The image's bytes, checked against its hash tree before anyone sees
/// them: wraps the source the fetch pipeline reads (the object as
/// published, so for a qcow2 the file), so nothing unverified is written to
/// the cache or returned. Each request is widened to whole blocks; a block
/// that does not match is fetched once more on its own, and if it still
/// does not match, the request fails with ``BlockMismatch`` after every
/// other block went on to the sink.
public final class VerifiedSource: RangeSource {
    public let tree: HashTree
    private let inner: any RangeSource
    private let imageDescription: String
    private let blockSize: UInt64

    /// Checks `inner`'s bytes against `tree`; `image` names the image
    /// (redacted) in errors.
    public init(_ inner: any RangeSource, tree: HashTree, image: String) {
        self.inner = inner
        self.tree = tree
        imageDescription = image
        blockSize = UInt64(tree.geometry.dataBlockSize)
    }

    public func read(_ range: Range<UInt64>, for purpose: FetchPurpose) async throws -> [UInt8] {
        let gathered = GatheringSink(range: range)
        try await read(range, for: purpose, into: gathered)
        return gathered.bytes
    }

    public func read(_ range: Range<UInt64>, for purpose: FetchPurpose, into sink: any FetchSink) async throws {
        let blocks = range.lowerBound / blockSize..<(range.upperBound + blockSize - 1) / blockSize
        let digests = try await tree.digests(ofBlocks: blocks)
        let verifying = VerifyingSink(
            downstream: sink, digests: digests, hasher: tree.hasher, blockSize: Int(blockSize), start: blocks.lowerBound * blockSize, wanted: range)
        try await inner.read(blocks.lowerBound * blockSize..<blocks.upperBound * blockSize, for: purpose, into: verifying)
        for block in try verifying.failedBlocks() {
            let bytes = block * blockSize..<(block + 1) * blockSize
            let again = try await inner.read(bytes, for: purpose)
            let matches = again.withUnsafeBytes { raw in
                digests.withExpectedDigest(ofBlock: block) { $0.map { tree.hasher.matches(raw, expected: $0) } ?? false }
            }
            guard matches else { throw BlockMismatch(block: block, failedBytes: bytes, image: imageDescription) }
            try again.withUnsafeBytes { try forward($0, at: bytes.lowerBound, to: sink, wanted: range) }
        }
    }
}

/// Gathers a read's bytes in memory, in place.
private final class GatheringSink: FetchSink {
    private let start: UInt64
    private let gathered: Mutex<[UInt8]>

    init(range: Range<UInt64>) {
        start = range.lowerBound
        gathered = Mutex(Array(repeating: 0, count: range.count))
    }

    var bytes: [UInt8] { gathered.withLock { $0 } }

    func write(_ piece: UnsafeRawBufferPointer, at offset: UInt64) throws {
        let at = Int(offset - start)
        gathered.withLock { bytes in
            bytes.withUnsafeMutableBytes { UnsafeMutableRawBufferPointer(rebasing: $0[at..<at + piece.count]).copyMemory(from: piece) }
        }
    }
}
