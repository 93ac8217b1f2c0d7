import ArgumentParser
import CMalloc
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
        keepLargeBuffersOutOfTheHeap()
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

    /// Fetched ranges are megabytes and live briefly. glibc serves such
    /// sizes with mmap at first, but after the first is freed it raises its
    /// threshold and keeps later ones in heap arenas it seldom returns: a
    /// cold `serve` of 1 GiB peaked at 211–410 MiB. A fixed 1 MiB threshold
    /// turns the dynamic one off, so they go back to the system when freed
    /// (151–157 MiB, for 10–20% more time on loopback, where page faults on
    /// fresh buffers show; docs/benchmarks.md). Smaller buffers stay in the
    /// heap: at 128 KiB the peak was 133–141 MiB but the time 40% longer.
    private static func keepLargeBuffersOutOfTheHeap() {
        _ = cmalloc_set_mmap_threshold(1 << 20)
    }
}
