import Dispatch
import Foundation

/// SIGINT and SIGTERM as an awaitable sequence, for a clean shutdown and for
/// passing them on to a `--run` command.
enum StopSignal {
    /// Every SIGINT and SIGTERM from now on, by number, until the iterating
    /// task ends or is cancelled. The signals no longer end the process.
    static func signals() -> AsyncStream<Int32> {
        AsyncStream { continuation in
            // Dispatch sources may be cancelled from any thread.
            nonisolated(unsafe) let sources = [SIGINT, SIGTERM].map { number in
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
