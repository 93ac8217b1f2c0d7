import Fetching
import Glibc
import Synchronization

/// Progress of a pull on stderr: a bar redrawn in place on a terminal,
/// a plain line every few seconds otherwise (logs, CI).
final class PullProgress: Sendable {
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant
    private let lastReport: Mutex<ContinuousClock.Instant?>

    init() {
        started = clock.now
        lastReport = Mutex(nil)
    }

    var elapsed: Duration { clock.now - started }

    func report(_ totals: FillProgress) {
        let now = clock.now
        let interval: Duration = isTerminal ? .milliseconds(200) : .seconds(5)
        let due = lastReport.withLock { last in
            guard last.map({ now - $0 >= interval }) ?? true else { return false }
            last = now
            return true
        }
        guard due else { return }
        write(line(totals), final: false)
    }

    /// Ends the bar line on a terminal.
    func finish(_ totals: FillProgress) {
        if isTerminal {
            write(line(totals), final: true)
        }
    }

    private func line(_ totals: FillProgress) -> String {
        let done = totals.bytesDone
        let fraction = totals.bytesWanted == 0 ? 1 : Double(done) / Double(totals.bytesWanted)
        let rate = ByteFormat.rate(totals.bytesFetched, over: elapsed)
        let remaining = totals.bytesWanted - done
        let speed = Double(totals.bytesFetched) / max(elapsed.seconds, 0.001)
        let eta = speed > 0 ? "ETA \(Int((Double(remaining) / speed).rounded(.up)))s" : "ETA -"
        let text = "\(ByteFormat.size(done)) / \(ByteFormat.size(totals.bytesWanted))  \(rate)  \(eta)"
        guard isTerminal else { return "pull: \(Int(fraction * 100))% \(text)" }
        let width = 30
        let filled = Int(fraction * Double(width))
        return "[" + String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled) + "] " + text
    }

    private func write(_ line: String, final: Bool) {
        let text = isTerminal ? "\r\u{1B}[K" + line + (final ? "\n" : "") : line + "\n"
        try? StandardStream.error.write(Array(text.utf8))
    }
}
