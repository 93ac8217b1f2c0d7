import ArgumentParser

/// `lazydisk cache …`: look after the persistent caches.
struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "List, inspect, verify, prune or remove caches, or export a boot trace.",
        subcommands: [CacheListCommand.self, CacheStatusCommand.self, CacheVerifyCommand.self, CacheClearCommand.self, CachePruneCommand.self, CacheTraceCommand.self]
    )
}
