import ArgumentParser
import FileCache
import Foundation
import RemoteImage

/// `lazydisk pull URL`: warm the cache ahead of a boot.
struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Fill the cache with the whole image (or a range of it).",
        discussion: "Resumable: chunks already cached are skipped, and an interrupted pull keeps what it fetched."
    )

    @Argument(help: "The image's http(s) URL.")
    var url: String

    @OptionGroup var part: ByteRangeOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var cache: CacheOptions

    func validate() throws {
        if cache.noCache || cache.offline {
            throw ValidationError("pull fills the cache from the server; --no-cache and --offline do not apply")
        }
    }

    func run() async throws {
        let layer = try await remote.openLayer(url)
        let cache = try ImageStack.openCache(for: layer, location: self.cache.location)
        let diskSize = cache.header.diskSize
        let range = try part.range(within: diskSize)

        // No reads wait in a pull: background work may use every connection.
        var policy = FetchPolicy()
        policy.connectionsReservedForReads = 0
        let scheduler = layer.storingChunks(in: cache, policy: policy).scheduler
        let progress = PullProgress()
        let pull = ImagePull(scheduler: scheduler, cache: cache, connections: remote.connections)
        let totals = try await pull.run(range) { progress.report($0) }
        try await cache.flush()
        progress.finish(totals)
        let elapsed = progress.elapsed
        print("""
            pulled \(ByteFormat.size(totals.bytesWanted)) of \(layer.image.url) in \(ByteFormat.rounded(elapsed.seconds)) s: \
            fetched \(ByteFormat.size(totals.bytesFetched)) in \(totals.requests) requests \
            (\(ByteFormat.rate(totals.bytesFetched, over: elapsed))), \
            \(ByteFormat.size(totals.bytesAlreadyCached)) already cached
            """)
    }
}
