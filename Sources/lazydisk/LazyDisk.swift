import ArgumentParser
import Glibc

/// The `lazydisk` command: boot virtual machines from disk images at HTTP(S)
/// URLs without downloading them first.
@main
struct LazyDisk: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lazydisk",
        abstract: "Boot virtual machines from disk images at HTTP(S) URLs without downloading them first.",
        discussion: """
            Sectors are fetched with HTTP range requests the first time they are read, \
            kept in a persistent local cache, and the VM's writes go to a throw-away RAM layer.
            """,
        version: LazyDiskVersion.current,
        subcommands: [InfoCommand.self, CatCommand.self, PullCommand.self, ServeCommand.self, CacheCommand.self, HashTreeCommand.self]
    )

    /// Runs the command; a failure, bad arguments included, is one line on
    /// stderr (`--help` says how to use a command), never a usage page.
    static func main() async {
        // A reader that goes away is a write error to report, not a signal.
        signal(SIGPIPE, SIG_IGN)
        StandardStream.holdClosedDescriptors()
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            guard code != .success else { exit(withError: error) }
            let message = message(for: error).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            if !message.isEmpty {
                StandardStream.error.writeLine("Error: \(message)")
            }
            Glibc.exit(code.rawValue)
        }
    }
}
