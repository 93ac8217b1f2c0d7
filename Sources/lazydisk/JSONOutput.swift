import FoundationEssentials

/// Writes `value` as one line of JSON on stdout, for scripts and fleet
/// tooling (`--json`): keys sorted, dates in ISO 8601.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    encoder.keyEncodingStrategy = .convertToSnakeCase
    try StandardStream.output.write(try encoder.encode(value) + Data("\n".utf8))
}
