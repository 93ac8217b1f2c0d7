/// A parsed `Content-Range: bytes a-b/total` (or `bytes */total`) header.
public struct ContentRange: Hashable, Sendable {
    /// The inclusive byte range the body holds; `nil` for `*`.
    public var range: ClosedRange<UInt64>?
    /// The size of the whole object; `nil` for `*`.
    public var total: UInt64?

    public init(range: ClosedRange<UInt64>?, total: UInt64?) {
        self.range = range
        self.total = total
    }

    public init?(_ header: String?) {
        guard let header else { return nil }
        let trimmed = header[...].trimmingHTTPWhitespace
        guard trimmed.lowercased().hasPrefix("bytes ") else { return nil }
        let parts = trimmed.dropFirst(6).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        if parts[1] == "*" {
            total = nil
        } else {
            guard let total = UInt64(parts[1]) else { return nil }
            self.total = total
        }
        if parts[0] == "*" {
            range = nil
        } else {
            let bounds = parts[0].split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 2, let first = UInt64(bounds[0]), let last = UInt64(bounds[1]), first <= last else {
                return nil
            }
            range = first...last
        }
    }
}

