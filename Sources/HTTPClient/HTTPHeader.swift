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
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let name = line[..<colon].trimmingHTTPWhitespace
        let value = line[line.index(after: colon)...].trimmingHTTPWhitespace
        guard !name.isEmpty, name.allSatisfy({ (0x21...0x7E).contains($0) }), !value.contains(where: Self.isLineBreaking) else {
            return nil
        }
        self.init(name: String(decoding: name, as: UTF8.self), value: String(decoding: value, as: UTF8.self))
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
