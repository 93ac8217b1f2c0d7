import Fetching
import FileCache
import Logging
import RemoteImage

/// What a server fetches while the guest runs, besides what the guest
/// reads: the cache's boot trace first, so a cold start finds its boot's
/// chunks arriving ahead of it, then, when asked, the rest of the image
/// under a rate cap, as QEMU's block-stream hydrates a copy-on-read disk.
/// All of it is background work: the guest's reads keep priority.
struct Hydration {
    /// The boot trace in `cache`'s directory; a damaged one is reported and
    /// skipped.
    static func loadTrace(of cache: FileCacheLayer) -> BootTrace? {
        do {
            return try BootTrace.load(from: cache.directory)
        } catch {
            printWarning("ignoring the boot trace: \(error)")
            return nil
        }
    }

    let scheduler: FetchScheduler
    let cache: FileCacheLayer
    let connections: Int
    /// What to replay first, if anything.
    let trace: BootTrace?
    let fillsImage: Bool
    let rateLimiter: RateLimiter?
    let logger: Logger

    func run() async {
        do {
            if let trace {
                let outcome = try await TraceReplay(trace: trace, scheduler: scheduler, concurrency: connections).run()
                logger.info("boot trace replayed", metadata: [
                    "chunks": "\(trace.chunks.count)", "requests": "\(outcome.requests)", "fetched": "\(outcome.bytesFetched)",
                ])
            }
            guard fillsImage else { return }
            var pull = ImagePull(scheduler: scheduler, cache: cache, connections: connections)
            pull.rateLimiter = rateLimiter
            let totals = try await pull.run(0..<cache.header.diskSize) { _ in }
            logger.info("background fill complete", metadata: ["fetched": "\(totals.bytesFetched)"])
        } catch is CancellationError {
            return
        } catch {
            printWarning("background fetching stopped: \(error); reads continue from the server")
        }
    }
}
