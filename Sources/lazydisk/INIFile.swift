/// The `key = value` lines of one `[section]` of an INI file, as AWS's
/// credentials and config files are written.
enum INIFile {
    static func values(in text: String, section wanted: String) -> [String: String] {
        var values: [String: String] = [:]
        var inSection = false
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingWhitespace
            if line.hasPrefix("[") && line.hasSuffix("]") {
                inSection = line.dropFirst().dropLast().trimmingWhitespace == wanted
            } else if inSection, !line.hasPrefix("#"), !line.hasPrefix(";"), let equals = line.firstIndex(of: "=") {
                values[line[..<equals].trimmingWhitespace.lowercased()] =
                    line[line.index(after: equals)...].trimmingWhitespace
            }
        }
        return values
    }
}
