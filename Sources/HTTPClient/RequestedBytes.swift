/// The bytes a GET asks for with a single `Range` header.
public enum RequestedBytes: Sendable, Hashable {
    /// Both ends known: `bytes=a-b`.
    case span(ClosedRange<UInt64>)
    /// The object's last bytes, `bytes=-n`: where they lie is the server's
    /// to say, so a footer can be asked for before the object's size is
    /// known.
    case last(UInt64)

    /// The header's value without its `bytes=` unit, as libcurl's
    /// `CURLOPT_RANGE` takes it.
    var rangeValue: String {
        switch self {
        case let .span(span): "\(span.lowerBound)-\(span.upperBound)"
        case let .last(count): "-\(count)"
        }
    }

    /// The most bytes the answer can hold.
    var count: UInt64 {
        switch self {
        case let .span(span): UInt64(span.count)
        case let .last(count): count
        }
    }
}
