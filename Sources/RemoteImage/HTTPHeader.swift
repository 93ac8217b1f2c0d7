import Foundation

/// A request header, such as an `Authorization` token for a private bucket.
public struct HTTPHeader: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// Parses `Name: value`, the form `--header` and header files use; `nil`
    /// when there is no colon or the name is empty or contains white space.
    public init?(line: some StringProtocol) {
        guard let colon = line.firstIndex(of: ":") else { return nil }
        let name = line[..<colon].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, !name.contains(where: \.isWhitespace) else { return nil }
        self.init(name: name, value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }
}
