import NIOPosix

/// The one home of the cache's blocking calls (`fdatasync`, `flock`, bitmap
/// pages, a verified image's tree blocks and copied chunks): a pool of its
/// own rather than NIO's shared singleton, which has a thread per core. A
/// flush can take seconds on a busy disk, and a read waiting to learn which
/// chunks it lacks must not queue behind two of them.
public enum BlockingWork {
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        return pool
    }()

    /// Enough for a flush per cache in use and the page reads beside them.
    static let threads = 8

    /// Runs `body`, which may block on the disk, on the pool.
    public static func run<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await pool.runIfActive(body)
    }
}
