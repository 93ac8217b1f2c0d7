import Foundation
import HTTPTestServers
import Testing

/// No client can grow `serve`'s listeners without bound: the metrics
/// endpoint and the NBD socket cap their connections, drop clients that
/// idle or never finish a handshake, and read nothing more from a client
/// that does not take its answers.
@Suite("Listener bounds")
struct ListenerBoundsTests {
    static let fixtures = NginxFixtures.directory

    /// `serve --metrics 127.0.0.1:0` with its metrics port, once it listens.
    private static func serveWithMetrics(_ extra: [String] = [], in work: TemporaryDirectory) async throws -> (ChildProcess, Int) {
        let nginx = try NginxServer(root: Self.fixtures)
        let (server, _) = try await LazyDiskRun.startServing(nginx.url("hello.img"), in: work, extra: ["--metrics", "127.0.0.1:0"] + extra)
        let log = work.url.appending(path: "serve.log")
        for _ in 0..<3000 {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("lazydisk: metrics at ") }),
               let port = URL(string: String(line.dropFirst("lazydisk: metrics at ".count)))?.port {
                return (server, port)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw CocoaError(.fileReadUnknown)
    }

    /// After a flood from a client that never reads, `serve` still runs
    /// and holds under 100 MiB. The pause is time for a server that answers
    /// what it read into memory to show it (about 35 MB a second here); one
    /// that waits stays where it is, however long it is given.
    private static func expectStaysSmall(_ server: ChildProcess) async throws {
        try await Task.sleep(for: .seconds(5))
        let status = try String(contentsOfFile: "/proc/\(server.pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        let resident = try #require(Int(line.split(separator: " ")[1])) * 1024
        #expect(resident < 100 << 20, "serve holds \(resident >> 20) MiB")
        #expect(server.isRunning)
    }

    /// Whether `attempt` succeeds within a few tries: a server counts a
    /// connection gone a moment after the client saw it closed.
    private static func served(_ attempt: () throws -> Bool) async throws -> Bool {
        for _ in 0..<500 {
            if try attempt() {
                return true
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    private static func scrapes(_ port: Int) throws -> Bool {
        let connection = try RawNBDConnection(port: port)
        return connection.send(Array("GET /metrics HTTP/1.0\r\n\r\n".utf8))
            && String(decoding: connection.receive(15), as: UTF8.self) == "HTTP/1.0 200 OK"
    }

    /// 200,000 pipelined scrapes from a client that never reads: serve
    /// stops reading once its answers back up, and its memory stays small.
    @Test(.timeLimit(.minutes(5))) func aClientThatNeverReadsCannotGrowTheMetricsEndpoint() async throws {
        let work = try TemporaryDirectory()
        let (server, port) = try await Self.serveWithMetrics(in: work)
        defer { server.stop() }
        let client = try RawNBDConnection(port: port)
        let scrapes = Array(String(repeating: "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n", count: 1000).utf8)
        _ = client.flood(scrapes, times: 200, patience: 2000)
        try await Self.expectStaysSmall(server)
    }

    /// An NBD client that sends 1 MiB reads and never takes the replies
    /// holds serve's memory at the socket's high-water mark: requests stop
    /// starting while the socket is backed up.
    @Test(.timeLimit(.minutes(5))) func anNBDClientThatNeverReadsCannotGrowServe() async throws {
        let work = try TemporaryDirectory()
        try randomFile(at: work.url.appending(path: "disk.img"), size: 4 << 20)
        let nginx = try NginxServer(root: work.url)
        let (server, socketPath) = try await LazyDiskRun.startServing(nginx.url("disk.img"), in: work, extra: ["-r"])
        defer { server.stop() }
        let client = try RawNBDConnection(socketPath: socketPath)
        #expect(client.handshake())
        let reads = (0..<64).flatMap { RawNBDConnection.request(type: 0, cookie: UInt64($0), offset: UInt64($0 % 4) << 20, length: 1 << 20) }
        _ = client.flood(reads, times: 100, patience: 2000)
        try await Self.expectStaysSmall(server)
    }

    /// Past 16 metrics connections a new one is closed at once; a client
    /// that sends nothing is dropped after ten seconds.
    @Test(.timeLimit(.minutes(5))) func metricsConnectionsAreCappedAndIdleOnesDropped() async throws {
        let work = try TemporaryDirectory()
        let (server, port) = try await Self.serveWithMetrics(in: work)
        defer { server.stop() }
        let held = try (0..<16).map { _ in try RawNBDConnection(port: port) }
        let extra = try RawNBDConnection(port: port)
        #expect(extra.isClosedByServer(within: 5000), "a 17th connection was kept")
        #expect(held.allSatisfy { $0.isClosedByServer(within: 20_000) }, "an idle connection was kept")
        #expect(try await Self.served { try Self.scrapes(port) }, "no answer once the idle ones were gone")
    }

    /// An NBD client that connects and never finishes its handshake is
    /// dropped; past `--max-connections`, a client is disconnected before
    /// its greeting, and served once another leaves.
    @Test(.timeLimit(.minutes(5))) func nbdConnectionsAreCappedAndStalledHandshakesDropped() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        let (server, socketPath) = try await LazyDiskRun.startServing(nginx.url("hello.img"), in: work, extra: ["--max-connections", "2"])
        defer { server.stop() }
        var first: RawNBDConnection? = try RawNBDConnection(socketPath: socketPath)
        #expect(first?.handshake() == true)
        let stalled = try RawNBDConnection(socketPath: socketPath)
        #expect(stalled.receive(18).count == 18)
        let third = try RawNBDConnection(socketPath: socketPath)
        #expect(third.isClosedByServer(within: 5000), "a third connection was served")
        first = nil
        #expect(stalled.isClosedByServer(within: 20_000), "a stalled handshake was kept")
        #expect(first == nil)
        #expect(try await Self.served { try RawNBDConnection(socketPath: socketPath).handshake() }, "no room after the others left")
    }
}
