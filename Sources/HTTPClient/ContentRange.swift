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

    /// Parsed from the header's text; nil for no header or a malformed one.
    public init?(_ header: String?) {
        guard var header, let parsed = header.withUTF8({ ContentRange(bytes: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = parsed
    }

    /// Parsed from the field's bytes as they lie in the response head: every
    /// range request's answer goes through this on curl's thread, where
    /// making strings and substrings of it cost 1.4% of a cold random read's
    /// samples. Numbers are ASCII digits only, as RFC 9110 has them.
    public init?(bytes: UnsafeRawBufferPointer) {
        let field = bytes.trimmingHTTPWhitespace
        guard field.prefix(6).elementsEqual("bytes ".utf8, by: { $0.asciiLowercased == $1 }),
              let (rangeText, totalText) = Self.split(field.dropFirst(6), at: "/")
        else { return nil }
        if totalText.elementsEqual("*".utf8) {
            total = nil
        } else {
            guard let total = Self.number(totalText) else { return nil }
            self.total = total
        }
        if rangeText.elementsEqual("*".utf8) {
            range = nil
        } else {
            guard let (firstText, lastText) = Self.split(rangeText, at: "-"),
                  let first = Self.number(firstText), let last = Self.number(lastText), first <= last else {
                return nil
            }
            range = first...last
        }
    }

    /// The bytes before and after the one `separator`; nil unless there is
    /// exactly one.
    private static func split(
        _ bytes: Slice<UnsafeRawBufferPointer>, at separator: Unicode.Scalar
    ) -> (Slice<UnsafeRawBufferPointer>, Slice<UnsafeRawBufferPointer>)? {
        let byte = UInt8(ascii: separator)
        guard let index = bytes.firstIndex(of: byte) else { return nil }
        let after = bytes[bytes.index(after: index)...]
        guard !after.contains(byte) else { return nil }
        return (bytes[..<index], after)
    }

    /// The number the decimal digits `digits` spell; nil for anything else,
    /// none, or more than a UInt64 holds.
    private static func number(_ digits: Slice<UnsafeRawBufferPointer>) -> UInt64? {
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            let (shifted, shiftOverflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, sumOverflow) = shifted.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !shiftOverflow, !sumOverflow else { return nil }
            value = sum
        }
        return value
    }
}
