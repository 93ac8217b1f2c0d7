import ArgumentParser
import Glibc
import HTTPTestServers

/// `LatencyProxy --upstream PORT --delay-ms N [--megabytes-per-second R]`:
/// puts an object store's first-byte latency (and per-connection
/// throughput) in front of a loopback server, for `scripts/bench`.
@main
struct LatencyProxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Relay loopback TCP to a port, holding back every reply for a fixed delay.")

    @Option(help: "The loopback port to relay to.")
    var upstream: Int

    @Option(help: "Milliseconds to hold back everything the upstream sends.")
    var delayMs: Int

    @Option(help: "Megabytes (10^6 bytes) a second each connection delivers at most (default: no cap).")
    var megabytesPerSecond: Int?

    @Option(help: "The loopback port to listen on (0 picks one).")
    var port = 0

    func validate() throws {
        guard delayMs >= 0 else { throw ValidationError("--delay-ms must not be negative") }
        guard (megabytesPerSecond ?? 1) > 0 else { throw ValidationError("--megabytes-per-second must be positive") }
    }

    func run() async throws {
        let proxy = try await DelayingProxy.start(
            upstreamPort: upstream, delay: .milliseconds(delayMs), bytesPerSecond: megabytesPerSecond.map { $0 * 1_000_000 }, port: port)
        // The port it listens on, at once: a script that asked for port 0
        // reads it while the proxy runs.
        print(proxy.port)
        fflush(nil)
        while true {
            try await Task.sleep(for: .seconds(3600))
        }
    }
}
