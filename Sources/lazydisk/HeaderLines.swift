import ArgumentParser
import HTTPClient

/// `Name: value` lines, as `--header`, `--header-file` and
/// `--header-command` give them; blank lines and `#` comments are skipped.
enum HeaderLines {
    /// The headers in `lines`; a bad line is named by its position and
    /// where it came from, never by its text (it may hold a token).
    static func parse(_ lines: [String], from origin: String) throws -> [HTTPHeader] {
        let meaningful = lines.filter { !$0.trimmingWhitespace.isEmpty && !$0.hasPrefix("#") }
        return try meaningful.enumerated().map { index, line in
            guard let header = HTTPHeader(line: line) else {
                throw ValidationError("header \(index + 1) from \(origin) is not of the form 'Name: value'")
            }
            return header
        }
    }

    static func parse(text: String, from origin: String) throws -> [HTTPHeader] {
        try parse(text.split(whereSeparator: \.isNewline).map(String.init), from: origin)
    }
}
