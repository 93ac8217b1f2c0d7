import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPTestServers
import Testing

/// `serve --metrics`: Prometheus's text format at /metrics, with figures
/// that move as the guest reads and agree with the server's own log, and
/// that Prometheus's own lint accepts.
@Suite("serve --metrics")
struct MetricsTests {
    @Test(.timeLimit(.minutes(5))) func scrapedCountersMatchWhatTheServerLogged() async throws {
        let work = try TemporaryDirectory()
        let image = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        try Data(image).write(to: work.url.appending(path: "disk.img"))
        let nginx = try NginxServer(root: work.url)
        let (server, socketPath) = try await LazyDiskRun.startServing(
            nginx.url("disk.img"), in: work, extra: ["-r", "--metrics", "127.0.0.1:0"])
        defer { server.stop() }
        let metricsURL = try #require(try await Self.metricsURL(in: work.url.appending(path: "serve.log")))

        let before = try await Self.scrape(metricsURL)
        #expect(before.sum("lazydisk_guest_read_bytes_total") == 0)
        #expect(before.sum("lazydisk_disk_size_bytes") == Double(image.count))

        let copy = work.url.appending(path: "copy.img").path
        #expect(try await LazyDiskRun.runTool("/usr/bin/nbdcopy", ["nbd+unix:///?socket=\(socketPath)", copy]) == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == Data(image))
        let badRead = RawNBDConnection.request(type: 0, cookie: 1, offset: UInt64(image.count), length: 512)
        let connection = try RawNBDConnection(socketPath: socketPath)
        #expect(connection.handshake() && connection.send(badRead) && connection.receive(16).count == 16)

        let after = try await Self.scrape(metricsURL)
        // nginx logs a request just after its last byte went out.
        for _ in 0..<3000 where nginx.accessLog.count < Int(after.sum("lazydisk_http_requests_total")) {
            try await Task.sleep(for: .milliseconds(20))
        }
        let log = nginx.accessLog
        let partialAnswers = Double(log.filter { $0.contains(" 206 ") }.count)
        let bytesSent: Double = log.compactMap { line in line.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        #expect(after.sum("lazydisk_http_requests_total") == Double(log.count))
        #expect(after.sum("lazydisk_http_requests_total", ["status": "206"]) == partialAnswers)
        #expect(after.sum("lazydisk_http_received_bytes_total") == bytesSent)
        #expect(after.sum("lazydisk_http_request_duration_seconds_count") == Double(log.count))
        #expect(after.sum("lazydisk_guest_read_bytes_total") == Double(image.count))
        #expect(after.sum("lazydisk_guest_requests_total", ["command": "read"]) > 0)
        #expect(after.sum("lazydisk_guest_request_failures_total", ["cause": "invalid_request"]) == 1)
        #expect(after.sum("lazydisk_guest_request_failures_total") == 1)
        #expect(after.sum("lazydisk_nbd_connections_total") >= 2)
        let hitsAndMisses = after.sum("lazydisk_cache_hits_total") + after.sum("lazydisk_cache_misses_total")
        #expect(hitsAndMisses == after.sum("lazydisk_disk_reads_total"))
        #expect(after.sum("lazydisk_cache_misses_total") > 0)
        #expect(after.sum("lazydisk_cache_bytes") == Double(image.count))
        #expect(after.sum("lazydisk_cache_coverage_ratio") == 1)
        #expect(after.sum("lazydisk_fetches_in_flight") == 0)

        let lint = work.url.appending(path: "metrics.txt")
        try Data(after.text.utf8).write(to: lint)
        #expect(try await LazyDiskRun.runTool("/bin/sh", ["-c", "promtool check metrics < \(lint.path)"]) == 0)
    }

    @Test func metricsStayOnLoopbackUnlessAllowed() async throws {
        let nginx = try NginxServer(root: NginxFixtures.directory)
        let refused = try await LazyDiskRun.run(["serve", nginx.url("hello.img"), "--metrics", "0.0.0.0:0", "--run", "true"])
        #expect(refused.status != 0 && refused.error.contains("--metrics 0.0.0.0 is reachable from other machines"), "\(refused.error)")
        let malformed = try await LazyDiskRun.run(["serve", nginx.url("hello.img"), "--metrics", "9100", "--run", "true"])
        #expect(malformed.status != 0 && malformed.error.contains("--metrics"), "\(malformed.error)")
    }

    /// The URL `serve` printed for its metrics, once it has.
    private static func metricsURL(in log: URL) async throws -> URL? {
        for _ in 0..<3000 {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("lazydisk: metrics at ") }) {
                return URL(string: String(line.dropFirst("lazydisk: metrics at ".count)))
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    private static func scrape(_ url: URL) async throws -> Exposition {
        let (data, response) = try await URLSession.shared.data(from: url)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        return Exposition(text: String(decoding: data, as: UTF8.self))
    }
}

/// Prometheus's text format, read just enough to add up series.
private struct Exposition {
    let text: String

    /// The sum of every sample of `name` whose labels include `labels`.
    func sum(_ name: String, _ labels: [String: String] = [:]) -> Double {
        var total = 0.0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series: Substring = line[..<space]
            let wanted: [String] = labels.map { "\($0.key)=\"\($0.value)\"" }
            if series.prefix(while: { $0 != "{" }) == name && wanted.allSatisfy({ series.contains($0) }) {
                total += value
            }
        }
        return total
    }
}
