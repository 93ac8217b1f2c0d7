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

    /// Parsed from the header's bytes, in place: every range request's
    /// answer goes through this on curl's thread, where lowercasing and
    /// splitting it into strings and arrays cost 4% of a cold random read.
    public init?(_ header: String?) {
        guard let field = header?.utf8.trimmingHTTPWhitespace,
              field.prefix(6).elementsEqual("bytes ".utf8, by: { $0.asciiLowercased == $1 }) else { return nil }
        guard let (rangeText, totalText) = Self.split(field.dropFirst(6), at: "/") else { return nil }
        if totalText.elementsEqual("*".utf8) {
            total = nil
        } else {
            guard let total = UInt64(Substring(totalText)) else { return nil }
            self.total = total
        }
        if rangeText.elementsEqual("*".utf8) {
            range = nil
        } else {
            guard let (firstText, lastText) = Self.split(rangeText, at: "-"),
                  let first = UInt64(Substring(firstText)), let last = UInt64(Substring(lastText)), first <= last else {
                return nil
            }
            range = first...last
        }
    }

    /// The bytes before and after the one `separator`; nil unless there is
    /// exactly one.
    private static func split(_ bytes: Substring.UTF8View, at separator: Unicode.Scalar) -> (Substring.UTF8View, Substring.UTF8View)? {
        let byte = UInt8(ascii: separator)
        guard let index = bytes.firstIndex(of: byte) else { return nil }
        let after = bytes[bytes.index(after: index)...]
        guard !after.contains(byte) else { return nil }
        return (bytes[..<index], after)
    }
}

