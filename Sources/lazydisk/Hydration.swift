import Fetching
import FileCache
import Logging
import RemoteImage

/// What a server fetches while the guest runs, besides what the guest
/// reads: the cache's boot trace first, so a cold start finds its boot's
/// chunks arriving ahead of it, then, when asked, the rest of the image
/// under the engine's rate cap, as QEMU's block-stream hydrates a
/// copy-on-read disk. All of it is background work: the guest's reads keep
/// priority.
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

    let engine: FillEngine
    let diskBytes: UInt64
    /// What to replay first, if anything.
    let trace: BootTrace?
    let fillsImage: Bool
    let logger: Logger

    func run() async {
        do {
            if let trace {
                let replayed = try await engine.fill(inOrder: trace.byteRanges(within: diskBytes))
                logger.info("boot trace replayed", metadata: [
                    "chunks": "\(trace.chunks.count)", "requests": "\(replayed.requests)", "fetched": "\(replayed.bytesFetched)",
                ])
            }
            guard fillsImage else { return }
            let clock = ContinuousClock()
            let started = clock.now
            let filled = try await engine.fill(0..<diskBytes)
            logger.info("background fill complete", metadata: [
                "fetched": "\(filled.bytesFetched)", "seconds": "\((clock.now - started).seconds)",
            ])
        } catch is CancellationError {
            return
        } catch {
            printWarning("background fetching stopped: \(error); reads continue from the server")
        }
    }
}
