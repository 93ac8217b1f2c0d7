import ArgumentParser

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
        subcommands: [InfoCommand.self, CatCommand.self, PullCommand.self, ServeCommand.self, CacheCommand.self]
    )
}
