import FileCache
import Foundation
import HTTPTestServers
import SystemPackage
import Testing

/// Boot traces recorded by `serve` and replayed by `pull --trace`, and
/// background fill while serving, against nginx.
@Suite("Boot traces and background fill")
struct BootTraceTests {
    typealias Setup = PullAndCacheTests.Setup

    @Test func serveRecordsFirstReadsAndPullReplaysThemFirst() async throws {
        let setup = try Setup(imageSize: 4 << 20)
        // Chunks 40, 3 and 41 are read, then 3 again.
        let reads = ["read 2621440 4k", "read 196608 4k", "read 2686976 64k", "read 200000 1k"]
            .map { "-c '\($0)'" }.joined(separator: " ")
        let serve = try await setup.run(["serve", setup.url(), "--read-only", "--run", "qemu-io -r -f raw \(reads) \"$uri\""])
        #expect(serve.status == 0, "\(serve.error)")
        let directory = try setup.cacheDirectory()
        let trace = try #require(try BootTrace.load(from: directory))
        #expect(trace.chunkBytes == 64 << 10)
        #expect(trace.chunks == [40, 3, 41])

        // A cold cache that kept its trace: the traced chunks come first.
        try FileManager.default.removeItem(atPath: directory.appending("meta").string)
        try FileManager.default.removeItem(atPath: directory.appending("data").string)
        let before = setup.nginx.accessLog.count
        // One connection, so the log shows the order requests were started.
        let pull = try await setup.run(["pull", setup.url(), "--trace", "--connections", "1"])
        #expect(pull.status == 0, "\(pull.error)")
        // After the open: the probe and the looks for a qcow2 header and a VHD footer.
        let gets = setup.nginx.accessLog.dropFirst(before).filter {
            $0.hasPrefix("GET") && !$0.contains("bytes=0-0\"") && !$0.contains("bytes=0-511\"") && !$0.contains("bytes=4193792-4194303")
        }
        let first = try #require(gets.first)
        #expect(!first.contains("\"bytes=0-"), "\(gets.prefix(3))")
        #expect(first.contains("\"bytes=2621440-2752511\""), "the first request should be chunks 40 and 41: \(gets.prefix(3))")
        #expect(try mismatchedChunks(directory, image: setup.image).isEmpty)
    }

    @Test func damagedTraceIsIgnoredWithAWarning() async throws {
        let setup = try Setup(imageSize: 1 << 20)
        _ = try await setup.run(["pull", setup.url(), "--length", "64K"])
        try Data("LZDTRACE and then nonsense".utf8).write(to: URL(fileURLWithPath: try setup.cacheDirectory().appending("trace").string))
        // One connection, so the log shows the order requests were started.
        let pull = try await setup.run(["pull", setup.url(), "--trace", "--connections", "1"])
        #expect(pull.status != 0)
        #expect(pull.error.contains("trace"), "\(pull.error)")
        let serve = try await setup.run(["serve", setup.url(), "--read-only", "--run", "qemu-img info \"$uri\""])
        #expect(serve.status == 0, "\(serve.error)")
        #expect(serve.error.contains("warning: ignoring the boot trace: cache is truncated: trace is 26 bytes"), "\(serve.error)")
    }

    @Test func serveFillsTheCacheInTheBackground() async throws {
        let setup = try Setup(imageSize: 8 << 20)
        let status = "\(LazyDiskRun.executable.path) cache status \"\(setup.url())\" --cache \(setup.caches.url.path)"
        // The guest only waits; the fill completes the cache meanwhile.
        let wait = "for i in $(seq 300); do \(status) | grep -q 'coverage       100.0%' && exit 0; sleep 0.1; done; exit 1"
        let serve = try await setup.run(["serve", setup.url(), "--read-only", "--fill", "--fill-rate", "8M", "--run", wait, "--verbose"])
        #expect(serve.status == 0, "\(serve.error)")
        // 8 MiB under 8 MiB/s: the engine's own clock says at least a second.
        let seconds = serve.error.split(separator: "\n").first { $0.contains("background fill complete") }
            .flatMap { $0.split(separator: " ").first { $0.hasPrefix("seconds=") } }
            .flatMap { Double($0.dropFirst("seconds=".count)) }
        #expect(seconds.map { $0 >= 1 } == true, "\(serve.error)")
        #expect(try mismatchedChunks(try setup.cacheDirectory(), image: setup.image).isEmpty)
        let cache = try FileCacheLayer.openExisting(at: try setup.cacheDirectory())
        #expect(cache.presentChunkCount == cache.chunkCount)
    }
}
