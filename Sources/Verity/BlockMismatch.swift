import Fetching
import LayeredDisk

/// A data block whose bytes, fetched twice, did not hash to what the tree
/// says: the server (or a cache, CDN or mirror on the way) serves other
/// bytes than the ones the root hash names. Nothing of it was stored.
public struct BlockMismatch: ConfinedFetchFailure, CausedFailure, CustomStringConvertible, Equatable {
    public let block: UInt64
    public let failedBytes: Range<UInt64>
    /// The image, redacted.
    public let image: String

    public var cause: FailureCause { .verificationFailed }

    public var description: String {
        "block \(block) (bytes \(failedBytes.lowerBound)-\(failedBytes.upperBound - 1)) of \(image) does not match the image's root hash"
    }
}
