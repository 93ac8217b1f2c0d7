import LayeredDisk

/// Why a hash tree cannot be used, or bytes did not verify against it.
public enum HashTreeError: CausedFailure, Sendable, Equatable, CustomStringConvertible {
    /// The tree's bytes are not a tree lazydisk reads.
    case malformed(String)
    /// A well-formed tree of a kind lazydisk does not check.
    case unsupported(String)
    /// The tree does not describe the image (another size).
    case mismatchedImage(String)
    /// A block of the tree itself did not hash to what its parent (or the
    /// root hash) says, fetched twice.
    case treeBlockMismatch(level: Int, index: UInt64)

    public var cause: FailureCause { .verificationFailed }

    public var description: String {
        switch self {
        case let .malformed(reason): "the hash tree is malformed: \(reason)"
        case let .unsupported(reason): "the hash tree is not supported: \(reason)"
        case let .mismatchedImage(reason): "the hash tree does not fit the image: \(reason)"
        case let .treeBlockMismatch(level, index):
            "hash tree block \(index) of level \(level) does not match the image's root hash (the tree is not the one the root hash names)"
        }
    }
}
