/// Why a fetch runs, which decides its priority and where it is counted.
public enum FetchPurpose: Sendable, CaseIterable {
    /// A read is waiting for these bytes.
    case read
    /// A sequential reader will probably want these bytes next.
    case readahead
    /// Filling the cache: `pull`, background fill while serving, trace replay.
    case fill

    /// The purpose as metrics and logs name it.
    public var label: String {
        switch self {
        case .read: "read"
        case .readahead: "readahead"
        case .fill: "fill"
        }
    }

    /// Reads go first; everything else uses what connections reads leave.
    var isForeground: Bool { self == .read }
}
