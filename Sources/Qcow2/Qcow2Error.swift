import LayeredDisk

/// Why a qcow2 image cannot be read, or a part of it: a feature lazydisk
/// does not decode, or a structure that is damaged. A damaged table fails
/// the reads that touch it, never the process, and never yields bytes.
public enum Qcow2Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// The image uses something this reader refuses rather than misread.
    case unsupported(String)
    /// The image's structure contradicts itself or the file.
    case corrupt(String)

    public var description: String {
        switch self {
        case let .unsupported(feature): "this qcow2 image uses \(feature), which lazydisk does not read"
        case let .corrupt(reason): "the qcow2 image is damaged: \(reason)"
        }
    }
}

extension Qcow2Error: CausedFailure {
    public var cause: FailureCause { .corruptImage }
}
