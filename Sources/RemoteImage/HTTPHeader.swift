/// A request header, such as an `Authorization` token for a private bucket.
public struct HTTPHeader: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// Parses `Name: value`, the form `--header` and header files use and
    /// servers answer in; `nil` when there is no colon or the name is empty
    /// or not a run of visible ASCII characters.
    public init?(line: some StringProtocol) {
        let line = Substring(line)
        guard let colon = line.firstIndex(of: ":") else { return nil }
        let name = line[..<colon].trimmingHTTPWhitespace
        guard !name.isEmpty, name.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return nil }
        self.init(name: String(name), value: String(line[line.index(after: colon)...].trimmingHTTPWhitespace))
    }
}
