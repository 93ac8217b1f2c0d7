import ArgumentParser
import Fetching
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

    @OptionGroup var image: ImageArgument

    @Flag(help: "Fetch the chunks the cache's boot trace names first, in the order a boot read them.")
    var trace = false

    @OptionGroup var part: ByteRangeOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var cache: CacheOptions

    func validate() throws {
        if cache.noCache || cache.offline {
            throw ValidationError("pull fills the cache from the server; --no-cache and --offline do not apply")
        }
    }

    /// Fetches what the boot trace names before anything else.
    private func replayTrace(of cache: FileCacheLayer, through scheduler: FetchScheduler) async throws {
        guard let bootTrace = try BootTrace.load(from: cache.directory) else {
            printWarning("there is no boot trace in \(cache.directory) yet; serve the image once to record one")
            return
        }
        _ = try await TraceReplay(trace: bootTrace, scheduler: scheduler, concurrency: remote.connections).run()
    }

    func run() async throws {
        let layer = try await remote.openLayer(try image.imageURL())
        let cache = try ImageStack.openCache(for: layer, location: self.cache.location, logger: remote.logger)
        let diskSize = cache.header.diskSize
        let range = try part.range(within: diskSize)

        // No reads wait in a pull: background work may use every connection.
        var policy = FetchPolicy()
        policy.connectionsReservedForReads = 0
        let scheduler = layer.storingChunks(in: cache, policy: policy).scheduler
        let progress = PullProgress()
        if trace {
            try await replayTrace(of: cache, through: scheduler)
        }
        let pull = ImagePull(scheduler: scheduler, cache: cache, connections: remote.connections)
        var totals = try await pull.run(range) { progress.report($0) }
        try await cache.flush()
        let statistics = scheduler.statistics
        totals.bytesFetched = statistics.counters.totalBytesFetched
        totals.requests = statistics.counters.totalRequests
        totals.bytesAlreadyCached = totals.bytesWanted - min(totals.bytesWanted, totals.bytesFetched)
        progress.finish(totals)
        let elapsed = progress.elapsed
        print("""
            pulled \(ByteFormat.size(totals.bytesWanted)) of \(layer.image.url) in \(ByteFormat.rounded(elapsed.seconds)) s: \
            fetched \(ByteFormat.size(totals.bytesFetched)) in \(totals.requests) requests \
            (\(ByteFormat.rate(totals.bytesFetched, over: elapsed))), \
            \(ByteFormat.size(totals.bytesAlreadyCached)) already cached
            """)
        print(CounterReport(statistics).line)
    }
}
