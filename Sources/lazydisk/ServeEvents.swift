import LayeredDisk
import NBD
import Synchronization

/// What `serve` says on standard error about its clients: every failed
/// request with its cause (a guest sees only EIO), at most one line a
/// second for each cause with a count of those left out, so a failing
/// guest cannot flood the log; and with `-v`, connects and disconnects.
final class ServeEvents: NBDServerEvents {
    private let verbose: Bool
    private let clock = ContinuousClock()
    private let lastLines = Mutex<[FailureCause: (at: ContinuousClock.Instant, leftOut: Int)]>([:])

    init(verbose: Bool) {
        self.verbose = verbose
    }

    func clientConnected(_ peer: String) {
        if verbose {
            StandardStream.error.writeLine("lazydisk: client connected (\(peer))")
        }
    }

    func clientDisconnected(_ peer: String) {
        if verbose {
            StandardStream.error.writeLine("lazydisk: client disconnected (\(peer))")
        }
    }

    func requestFailed(_ command: String, cause: FailureCause, message: String) {
        let now = clock.now
        let leftOut: Int? = lastLines.withLock { lines in
            let previous = lines[cause]
            if let previous, now - previous.at < .seconds(1) {
                lines[cause] = (previous.at, previous.leftOut + 1)
                return nil
            }
            lines[cause] = (now, 0)
            return previous?.leftOut ?? 0
        }
        guard let leftOut else { return }
        StandardStream.error.writeLine(
            "lazydisk: a guest \(command) failed (\(cause.rawValue)): \(message)" + (leftOut > 0 ? " (and \(leftOut) more like it before)" : ""))
    }
}
