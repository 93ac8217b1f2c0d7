import Fetching
import FileCache
import LayeredDisk
import Metrics
import Synchronization

/// The figures `serve --metrics` takes at each scrape instead of counting
/// them as they happen: the fetch pipeline's counters, the same ones `pull`
/// prints, so the two always agree; and the cache's size and coverage,
/// which other processes change too.
final class ScrapedMetrics: Sendable {
    private let scheduler: FetchScheduler?
    private let cache: FileCacheLayer?
    /// What the counters had reached at the last scrape.
    private let published = Mutex(FetchCounters())

    private let diskReads = Counter(label: "lazydisk_disk_reads_total")
    private let hits = Counter(label: "lazydisk_cache_hits_total")
    private let misses = Counter(label: "lazydisk_cache_misses_total")
    private let cacheBytes = Gauge(label: "lazydisk_cache_bytes")
    private let coverage = Gauge(label: "lazydisk_cache_coverage_ratio")

    /// Made after the metrics backend is bootstrapped; the disk's size is
    /// fixed, so it is set once here.
    init(stack: ImageStack) {
        scheduler = stack.scheduler
        cache = stack.cache
        Gauge(label: "lazydisk_disk_size_bytes").record(stack.disk.byteCount)
    }

    /// Brings every scraped figure up to now; call before each export.
    func update() {
        if let counters = scheduler?.counters {
            published.withLock { last in
                diskReads.increment(by: counters.reads - last.reads)
                hits.increment(by: counters.hits - last.hits)
                misses.increment(by: counters.misses - last.misses)
                last = counters
            }
        }
        if let cache {
            let present = cache.presentBytes
            cacheBytes.record(present)
            coverage.record(cache.header.diskSize == 0 ? 1 : Double(present) / Double(cache.header.diskSize))
        }
    }
}
