import Fetching
import FileCache
import ImageModel
import LayeredDisk
import Logging
import Qcow2
import RemoteImage
import Synchronization
import SystemPackage
import Verity

/// The one engine behind every command that reads an image, in the design
/// card's shape: the file cache, a read cache filled by the fetch scheduler,
/// over the HTTP layer (or over nothing, offline); with `--no-cache`, a
/// bounded memory cache in its place. A read the cache misses waits for the
/// scheduler to bring the chunks and reads them from the cache.
struct ImageStack {
    /// Presence granularity for new caches: large enough for few bitmap
    /// updates, small enough that a boot does not fetch much it never reads.
    static let chunkSize: UInt32 = 64 * 1024
    /// What `--no-cache` may fetch at once: behind a first-byte latency,
    /// requests of 5 MiB on each of the default connections keep the link
    /// busy. Bytes in flight take no memory until they arrive, and readahead
    /// that arrives to a full cache pauses, so this bounds the link's use,
    /// not memory (docs/benchmarks.md).
    static let memoryInFlightBytes: UInt64 = 80 << 20
    /// The memory `--no-cache` reads through. It holds what arrived before
    /// its reader came, which in flight bounds only loosely: chunks already
    /// read are forgotten first, and readahead no read waits for yet pauses
    /// rather than make the cache forget what no read has taken. 20 MiB
    /// keeps a sequential copy's 80 MiB in flight with windows of 20 MiB
    /// within the 64 MiB every command keeps to, and fetches next to nothing
    /// twice (docs/benchmarks.md).
    static let memoryCacheBytes = 20 << 20
    /// The largest readahead window of a `--no-cache` stream: four of
    /// nbdcopy's streams fill the bytes in flight.
    static let memoryReadaheadLimit: UInt64 = 20 << 20
    /// The memory cache's chunks: nothing is stored, so no bitmap asks for
    /// large ones, and a random 4 KiB read fetches 16 KiB, not 64.
    static let memoryChunkBytes = 16 << 10

    /// The disk as commands read it: every read of the image file is shown
    /// to the scheduler for readahead.
    let disk: any BlockDevice
    /// Where the disk's holes are, when it knows (a qcow2 image; what the
    /// RAM overlay holds counts as data).
    let allocation: (any AllocationMap)?
    /// Makes more disks like ``disk`` over the same image, each with an
    /// overlay of its own: the guests of one `serve`.
    let guests: GuestDisks
    let cache: FileCacheLayer?
    let remote: HTTPRangeLayer?
    /// What fills the cache from the remote image: reads, readahead, fills.
    let scheduler: FetchScheduler?
    /// Records the order reads first touch chunks, saved as the cache's
    /// boot trace by ``finish()``.
    let traceRecorder: TraceRecorder?

    /// Builds the stack for `source`. With an `overlayLimit`, a RAM layer on top
    /// takes up to that many bytes of writes (and is thrown away); without
    /// one the disk is read-only.
    /// With `recordsTrace`, the order of first reads is kept as the cache's
    /// boot trace when the stack finishes.
    static func open(
        _ source: ImageSource, remote options: RemoteOptions, cache cacheOptions: CacheOptions,
        overlayLimit: Int? = nil, recordsTrace: Bool = false
    ) async throws -> ImageStack {
        let logger = options.logger
        let imageURL = source.url
        if cacheOptions.offline {
            let cache = try FileCacheLayer.openExisting(
                at: cacheOptions.location.existingDirectory(for: imageURL, rootHash: options.rootHash))
            if options.rootHash == nil && imageURL.query != nil && !CacheLocation.sharesAcrossQueries(cache.header.identity)
                && cache.directory != cacheOptions.location.directory(for: imageURL, sharedAcrossQueries: false) {
                throw CommandError("the cache of \(imageURL) was made for another query, and the server gave no strong ETag to prove it is the same image")
            }
            warnAboutDiscardedPages(cache)
            let recorder = recordsTrace ? TraceRecorder(layout: cache.chunkLayout) : nil
            let guests = try await GuestDisks(
                format: ImageFormat(rawValue: cache.header.format) ?? .raw,
                file: [LayerConfiguration(cache), LayerConfiguration(OfflineLayer(sectorCount: cache.sectorCount, sectorSize: cache.sectorSize))],
                observers: recorder.map { [$0] } ?? [])
            return try ImageStack(
                guests: guests, overlayLimit: overlayLimit, cache: cache, remote: nil, scheduler: nil, traceRecorder: recorder)
        }
        let remote = try await options.openLayer(source)
        guard !cacheOptions.noCache else {
            guard remote.image.servesRanges else {
                throw RemoteImageError.rangesNotSupported(
                    url: imageURL.description,
                    answer: "it answered 200 OK with the whole object to Range: bytes=0-0; without ranges, lazydisk keeps its one download in the cache: drop --no-cache")
            }
            let memory = MemoryCacheLayer(
                sectorCount: remote.sectorCount, sectorSize: remote.sectorSize, chunkBytes: memoryChunkBytes, limitBytes: memoryCacheBytes)
            let scheduler = remote.scheduler(
                filling: memory, policy: .memoryCache(inFlight: memoryInFlightBytes, readaheadLimit: memoryReadaheadLimit))
            let guests = try await GuestDisks(
                format: remote.format, file: [LayerConfiguration(memory, filledBy: scheduler), LayerConfiguration(remote)],
                observers: [scheduler])
            return try ImageStack(
                guests: guests, overlayLimit: overlayLimit, cache: nil, remote: remote, scheduler: scheduler, traceRecorder: nil)
        }
        let cache = try await openCache(for: remote, location: cacheOptions.location, limit: try cacheOptions.limit.maximumSize(), logger: logger)
        let warned = Atomic<Bool>(false)
        let scheduler = remote.scheduler(filling: cache) { error in
            // Reads go on from the server; say so once, log every failure.
            if !warned.exchange(true, ordering: .relaxed) {
                printWarning("cannot store fetched data in the cache: \(error); reads continue from the server")
            }
            logger.debug("cache store failed: \(error)")
        }
        let recorder = recordsTrace ? TraceRecorder(layout: cache.chunkLayout) : nil
        let guests = try await GuestDisks(
            format: remote.format, file: [LayerConfiguration(cache, filledBy: scheduler), LayerConfiguration(remote)],
            observers: [scheduler] + (recorder.map { [$0] } ?? []))
        return try ImageStack(
            guests: guests, overlayLimit: overlayLimit, cache: cache, remote: remote, scheduler: scheduler, traceRecorder: recorder)
    }

    /// The stack with its first guest's disk (the one commands read) made.
    private init(
        guests: GuestDisks, overlayLimit: Int?, cache: FileCacheLayer?, remote: HTTPRangeLayer?, scheduler: FetchScheduler?,
        traceRecorder: TraceRecorder?
    ) throws {
        let guest = try guests.make(overlayLimit: overlayLimit)
        disk = guest.disk
        allocation = guest.allocation
        self.guests = guests
        self.cache = cache
        self.remote = remote
        self.scheduler = scheduler
        self.traceRecorder = traceRecorder
    }

    /// A reader that streams the disk once is done with `bytes`: the cache's
    /// pages of them leave the page cache once committed (see
    /// ``FileCacheLayer/dropPages(passed:)``). Nothing when the disk's bytes
    /// are not the cache's (a qcow2 image, decoded).
    func dropPages(passed bytes: Range<UInt64>) {
        guard guests.readsFileOffsets else { return }
        cache?.dropPages(passed: bytes)
    }

    /// Waits for fetched data to reach the cache, makes the cache's bitmap
    /// durable and saves the boot trace; call before the process exits.
    func finish() async throws {
        await scheduler?.finishStoring()
        guard let cache else { return }
        try await cache.flush()
        if let trace = traceRecorder?.trace, !trace.chunks.isEmpty {
            do {
                try trace.save(to: cache.directory)
            } catch {
                printWarning("the boot trace was not saved: \(error)")
            }
        }
    }

    /// Opens the image's cache, warning when it had to be rebuilt. With a
    /// `limit`, least recently used caches no process uses are removed first
    /// to leave room for the whole of this image. A verified image keeps its
    /// hash tree's blocks in the cache, and copies chunks other verified
    /// caches under the root hold rather than fetch them.
    static func openCache(for remote: HTTPRangeLayer, location: CacheLocation, limit: UInt64?, logger: Logger) async throws -> FileCacheLayer {
        let identity = remote.identity
        let header = CacheHeader(
            sectorSize: UInt32(remote.sectorSize),
            diskSize: remote.sectorCount * UInt64(remote.sectorSize),
            chunkSize: chunkSize,
            format: remote.format.rawValue,
            identity: identity
        )
        if remote.image.url.query != nil && identity.rootHash == nil && !CacheLocation.sharesAcrossQueries(identity) {
            logger.info("the cache is keyed by the URL's query too: the server sent no strong ETag to prove which object a query names")
        }
        let (cache, outcome) = try FileCacheLayer.open(at: location.directory(for: remote.image.url, identity: identity), for: header)
        if case let .rebuilt(reason) = outcome {
            printWarning("the cache for \(remote.image.url) was discarded and rebuilt: \(reason)")
        }
        warnAboutDiscardedPages(cache)
        if let verification = remote.verification {
            try await verification.tree.keep(in: cache.directory)
            verification.copiesChunks(from: ContentIndex(root: location.root, chunkBytes: Int(cache.header.chunkSize)) {
                location.directory(forRootHash: $0)
            })
        }
        if let limit {
            let room = cache.header.diskSize - cache.presentBytes
            for removed in location.prune(toAtMost: limit - min(limit, room), keeping: cache.directory) {
                logger.info("removed a cached image to stay under the cache's size limit", metadata: [
                    "url": "\(removed.url ?? removed.directory.string)", "bytes": "\(removed.bytesOnDisk)",
                ])
            }
        }
        return cache
    }

    private static func warnAboutDiscardedPages(_ cache: FileCacheLayer) {
        if cache.discardedPages > 0 {
            printWarning("\(cache.discardedPages) damaged cache bitmap page(s) were dropped; their chunks will be fetched again")
        }
    }
}

/// One `warning:` line on stderr.
func printWarning(_ message: String) {
    StandardStream.error.writeLine("warning: \(message)")
}
