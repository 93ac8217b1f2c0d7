/// A request header, such as an `Authorization` token for a private bucket.
public struct HTTPHeader: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// Parses `Name: value`, the form `--header` and header files use and
    /// servers answer in; `nil` when there is no colon, the name is empty or
    /// not a run of visible ASCII characters, or the value holds CR, LF or
    /// NUL (which would smuggle another header or request into the wire).
    public init?(line: some StringProtocol) {
        self.init(utf8: Substring(line).utf8)
    }

    /// Parses a line as UTF-8 bytes, as a response delivers it: no string
    /// is made but the name and the value.
    init?<Line: BidirectionalCollection<UInt8>>(utf8 line: Line) where Line.SubSequence: BidirectionalCollection<UInt8> {
        guard let (name, value) = Self.split(line), Self.isValid(name: name, value: value) else { return nil }
        self.init(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
    }

    /// The name before a line's first colon and the value after it, both
    /// trimmed, not yet checked (``isValid(name:value:)``); nil without a
    /// colon. A lookup compares the name before it checks the rest.
    static func split<Line: BidirectionalCollection<UInt8>>(
        _ line: Line
    ) -> (name: Line.SubSequence.SubSequence, value: Line.SubSequence.SubSequence)? where Line.SubSequence: BidirectionalCollection<UInt8> {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        return (line[..<colon].trimmingHTTPWhitespace, line[line.index(after: colon)...].trimmingHTTPWhitespace)
    }

    /// Whether a split line is a header: a name of visible ASCII characters
    /// and a value without CR, LF or NUL (which would smuggle in another).
    static func isValid(name: some Collection<UInt8>, value: some Collection<UInt8>) -> Bool {
        !name.isEmpty && name.allSatisfy { (0x21...0x7E).contains($0) } && !value.contains(where: isLineBreaking)
    }

    /// Whether the header can go on the wire as one line: a token name and
    /// a value without CR, LF or NUL.
    var isSafeToSend: Bool {
        !name.isEmpty && name.utf8.allSatisfy { (0x21...0x7E).contains($0) && $0 != UInt8(ascii: ":") }
            && !value.utf8.contains(where: Self.isLineBreaking)
    }

    private static func isLineBreaking(_ byte: UInt8) -> Bool {
        byte == 0x0D || byte == 0x0A || byte == 0
    }
}
