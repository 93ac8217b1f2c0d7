import Foundation

/// The text of a file an option names (`--header-file`, `--url-file`), or
/// an error that names the option and the file.
func readOptionFile(_ path: String, option: String) throws -> String {
    do {
        return try String(contentsOfFile: path, encoding: .utf8)
    } catch {
        throw CommandError("cannot read \(option) \(path): \(error.localizedDescription)")
    }
}
