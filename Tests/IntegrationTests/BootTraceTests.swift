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
            $0.hasPrefix("GET") && !$0.contains("bytes=0-0\"") && !$0.contains("bytes=0-511\"") && !$0.contains("bytes=-512\"")
        }
        let first = try #require(gets.first)
        #expect(!first.contains("\"bytes=0-"), "\(gets.prefix(3))")
        #expect(first.contains("\"bytes=2621440-2752511\""), "the first request should be chunks 40 and 41: \(gets.prefix(3))")
        #expect(try mismatchedChunks(directory, image: setup.image).isEmpty)
    }

    /// A trace exported from one cache, published beside the image and
    /// given to a serve with an empty cache on another root: its first
    /// requests follow the trace.
    @Test func aPublishedTraceLeadsAColdServeOnAnotherCache() async throws {
        let setup = try Setup(imageSize: 16 << 20)
        // Chunks 128, 32 and 224, in that order.
        let reads = ["read 8M 4k", "read 2M 4k", "read 14M 4k"].map { "-c '\($0)'" }.joined(separator: " ")
        let serve = try await setup.run(["serve", setup.url(), "--read-only", "--run", "qemu-io -r -f raw \(reads) \"$uri\""])
        #expect(serve.status == 0, "\(serve.error)")
        let published = setup.served.url.appending(path: "disk.trace").path
        let export = try await setup.run(["cache", "trace", setup.url(), "--output", published])
        #expect(export.status == 0, "\(export.error)")
        #expect(try BootTrace(decoding: Array(Data(contentsOf: URL(fileURLWithPath: published)))).chunks == [128, 32, 224])

        let other = try TemporaryDirectory()
        let before = setup.nginx.accessLog.count
        let log = setup.nginx.accessLogFile.path
        // The guest waits until the replay's three requests are in the log.
        let wait = "for i in $(seq 600); do [ $(tail -n +\(before + 1) \(log) | grep -c 'bytes=[0-9]*-[0-9]*\" \"[^\"]*\" 206 65536') -ge 3 ] && exit 0; sleep 0.05; done; exit 1"
        let cold = try await LazyDiskRun.run([
            "serve", setup.url(), "--read-only", "--cache", other.url.path, "--connections", "1",
            "--trace-from", setup.nginx.url("disk.trace"), "--run", wait,
        ])
        #expect(cold.status == 0, "\(cold.error)")
        let ranges = setup.nginx.accessLog.dropFirst(before).filter { $0.hasPrefix("GET /disk.img") && $0.hasSuffix(" 65536") }
        #expect(ranges.prefix(3).map { String($0.split(separator: " ")[2]) } == [
            "\"bytes=8388608-8454143\"", "\"bytes=2097152-2162687\"", "\"bytes=14680064-14745599\"",
        ], "\(ranges.prefix(3))")
        #expect(setup.nginx.accessLog.dropFirst(before).contains { $0.hasPrefix("GET /disk.trace") })
    }

    /// A trace from elsewhere is checked before anything of it is used.
    @Test func aTraceFromElsewhereThatIsNoTraceOfTheImageIsRefused() async throws {
        let setup = try Setup(imageSize: 1 << 20)
        let work = try TemporaryDirectory()
        let garbage = work.url.appending(path: "garbage").path
        try Data("LZDTRACE and then nonsense".utf8).write(to: URL(fileURLWithPath: garbage))
        let damaged = try await setup.run(["pull", setup.url(), "--trace-from", garbage])
        #expect(damaged.status != 0 && damaged.error.contains("--trace-from \(garbage) is not a boot trace of this image"), "\(damaged.error)")

        let past = work.url.appending(path: "past").path
        try BootTrace(chunkBytes: 64 << 10, chunks: [3, 99]).write(to: FilePath(past))
        let beyond = try await setup.run(["pull", setup.url(), "--trace-from", past])
        #expect(beyond.error.contains("trace names chunk 99, past the disk's 16 chunks"), "\(beyond.error)")

        let huge = work.url.appending(path: "huge").path
        try Data(count: 1 << 20).write(to: URL(fileURLWithPath: huge))
        let tooLarge = try await setup.run(["pull", setup.url(), "--trace-from", huge])
        #expect(tooLarge.error.contains("such a file holds at most"), "\(tooLarge.error)")
        #expect(try FileCacheLayer.openExisting(at: try setup.cacheDirectory()).presentChunkCount == 0)
    }

    /// The image's credentials go to the image's origin only: a trace on
    /// another host, port or scheme is fetched with none of them.
    @Test func aTraceOnAnotherOriginIsFetchedWithoutTheImagesCredentials() async throws {
        let image = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let origin = try await FaultServer.start(content: image)
        let elsewhere = try await FaultServer.start(content: BootTrace(chunkBytes: 64 << 10, chunks: [3, 1]).encoded)
        let work = try TemporaryDirectory()
        let pull = try await LazyDiskRun.run([
            "pull", origin.url, "--header", "Authorization: Bearer IMAGE-SECRET", "--trace-from", elsewhere.url, "--cache", work.url.path,
        ])
        #expect(pull.status == 0, "\(pull.error)")
        #expect(!elsewhere.requests.isEmpty)
        #expect(elsewhere.requests.allSatisfy { $0.authorization == nil }, "\(elsewhere.requests.map(\.headers))")
        #expect(origin.requests.allSatisfy { $0.authorization == "Bearer IMAGE-SECRET" })
        try await origin.shutdown()
        try await elsewhere.shutdown()
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
