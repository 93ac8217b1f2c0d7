import Glibc

/// A thread of its own for work that blocks for long: curl's loop waits in
/// `curl_multi_poll` for as long as the process runs, and a wait for another
/// process's claim on cache bytes sleeps in `fcntl`; neither may hold one of
/// the concurrency pool's few threads. (Foundation's `Thread` did this
/// before; with FoundationEssentials alone, Foundation's libraries and
/// ICU's stay out of every process's memory.)
public enum DedicatedThread {
    /// Runs `body` on a new detached thread.
    public static func start(_ body: @escaping @Sendable () -> Void) {
        final class Work {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let work = Unmanaged.passRetained(Work(body)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { context in
            guard let context else { return nil }
            let work = Unmanaged<Work>.fromOpaque(context).takeRetainedValue()
            work.body()
            return nil
        }, work)
        precondition(created == 0, "pthread_create failed with \(created)")
        pthread_detach(thread)
    }
}
