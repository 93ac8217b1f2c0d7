import ArgumentParser
import Fetching
import FileCache
import ImageModel
import RemoteImage
import Verity

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

    @Option(help: ArgumentHelp(
        "Fetch the chunks this boot trace names first instead: a file, or an http(s) URL (see cache trace).", valueName: "file|url"))
    var traceFrom: String?

    @Flag(help: "Print the summary as one JSON object (the fill's figures and the fetch counters) instead.")
    var json = false

    /// The summary `--json` prints.
    private struct Summary: Encodable {
        var url: String
        var seconds: Double
        var bytesWanted: UInt64
        var bytesFetched: UInt64
        var bytesAlreadyCached: UInt64
        var requests: Int
        var requestsByPurpose: [String: Int]
        var bytesFetchedByPurpose: [String: UInt64]
        var mergedRequests: Int
        var joinedChunks: Int
        /// Of the bytes fetched, those copied from other verified images'
        /// caches (same content) instead of downloaded.
        var bytesCopied: UInt64
    }

    @OptionGroup var part: ByteRangeOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var cache: CacheRootOptions
    @OptionGroup var limit: CacheLimitOptions

    func run() async throws {
        let source = try await image.source(commandTimeLimit: remote.commandTimeLimit)
        let layer = try await remote.openLayer(source)
        let cache = try await ImageStack.openCache(for: layer, location: self.cache.location, limit: try limit.maximumSize(), logger: remote.logger)
        cache.dropPagesOnceCommitted()
        let diskSize = cache.header.diskSize
        let range = try part.range(within: diskSize)

        // No reads wait in a pull: background work may use every connection.
        var policy = FetchPolicy()
        policy.connectionsReservedForReads = 0
        let scheduler = layer.scheduler(filling: cache, policy: policy)
        let engine = FillEngine(scheduler: scheduler, store: cache, connections: remote.connections)
        let progress = PullProgress()
        if let traceFrom {
            let given = try await TraceSource(location: traceFrom).load(diskBytes: diskSize, image: source, remote: remote)
            _ = try await engine.fill(inOrder: given.byteRanges(within: diskSize))
        } else if trace {
            if let bootTrace = try BootTrace.load(from: cache.directory) {
                _ = try await engine.fill(inOrder: bootTrace.byteRanges(within: diskSize))
            } else {
                printWarning("there is no boot trace in \(cache.directory) yet; serve the image once to record one")
            }
        }
        var totals = try await engine.fill(range) { progress.report($0) }
        try await cache.flush()
        let counters = scheduler.counters
        totals.bytesFetched = counters.totalBytesFetched
        totals.requests = counters.totalRequests
        totals.bytesAlreadyCached = totals.bytesWanted - min(totals.bytesWanted, totals.bytesFetched)
        progress.finish(totals)
        let elapsed = progress.elapsed
        let copied = layer.verification?.copiedBytes ?? 0
        if json {
            try printJSON(Summary(
                url: layer.image.url.description, seconds: elapsed.seconds, bytesWanted: totals.bytesWanted,
                bytesFetched: totals.bytesFetched, bytesAlreadyCached: totals.bytesAlreadyCached, requests: totals.requests,
                requestsByPurpose: Dictionary(uniqueKeysWithValues: counters.requests.map { ("\($0.key)", $0.value) }),
                bytesFetchedByPurpose: Dictionary(uniqueKeysWithValues: counters.bytesFetched.map { ("\($0.key)", $0.value) }),
                mergedRequests: counters.mergedRequests, joinedChunks: counters.joinedChunks, bytesCopied: copied))
            return
        }
        print("""
            pulled \(ByteFormat.size(totals.bytesWanted)) of \(layer.image.url) in \(ByteFormat.rounded(elapsed.seconds)) s: \
            fetched \(ByteFormat.size(totals.bytesFetched)) in \(totals.requests) requests \
            (\(ByteFormat.rate(totals.bytesFetched, over: elapsed))), \
            \(ByteFormat.size(totals.bytesAlreadyCached)) already cached
            """)
        if copied > 0 {
            print("of the bytes fetched, \(ByteFormat.size(copied)) were copied from caches of verified images with the same content")
        }
        print(CounterReport(counters).line)
    }
}
