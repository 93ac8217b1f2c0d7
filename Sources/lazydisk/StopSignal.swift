import Dispatch
import Glibc

/// The signals that ask lazydisk to stop, as an awaitable sequence, for a
/// clean shutdown and for passing them on to a `--run` command: SIGINT and
/// SIGTERM, and SIGHUP (a closed terminal or session), which nbdkit and
/// most servers treat the same way, so a hang-up never leaves the socket
/// and pid file behind.
enum StopSignal {
    static let numbers = [SIGINT, SIGTERM, SIGHUP]

    /// Every stop signal from now on, by number, until the iterating task
    /// ends or is cancelled. The signals no longer end the process.
    static func signals() -> AsyncStream<Int32> {
        AsyncStream { continuation in
            // Dispatch sources may be cancelled from any thread.
            nonisolated(unsafe) let sources = numbers.map { number in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number)
                source.setEventHandler { continuation.yield(number) }
                source.resume()
                return source
            }
            continuation.onTermination = { _ in sources.forEach { $0.cancel() } }
        }
    }
}
