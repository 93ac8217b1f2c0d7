import Dispatch
import Foundation

/// SIGINT and SIGTERM as an awaitable event, for a clean shutdown.
enum StopSignal {
    /// Returns when the process receives SIGINT or SIGTERM.
    static func wait() async {
        let (signals, continuation) = AsyncStream<Void>.makeStream()
        let sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { continuation.yield() }
            source.resume()
            return source
        }
        for await _ in signals {
            break
        }
        sources.forEach { $0.cancel() }
    }
}
