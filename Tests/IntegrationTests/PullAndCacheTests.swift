import Fetching
import FileCache
import Foundation
import HTTPTestServers
import ImageModel
import RemoteImage
import SystemPackage
import Testing

/// `lazydisk pull`, the persistent cache and the `cache` commands, against
/// nginx, including kill -9 in the middle of a pull.
@Suite("Pull and the persistent cache")
struct PullAndCacheTests {
    /// A served directory holding a random image, a cache root, and nginx.
    final class Setup: Sendable {
        let served = try! TemporaryDirectory()
        let caches = try! TemporaryDirectory()
        let nginx: NginxServer
        let imageSize: Int

        init(imageSize: Int = 16 << 20) throws {
            self.imageSize = imageSize
            try randomFile(at: served.url.appending(path: "disk.img"), size: imageSize)
            nginx = try NginxServer(root: served.url)
        }

        var image: Data { get throws { try Data(contentsOf: served.url.appending(path: "disk.img")) } }
        func url(throttled: Bool = false) -> String { nginx.url((throttled ? "throttled/" : "") + "disk.img?sig=SECRET") }
        var cacheArguments: [String] { ["--cache", caches.url.path] }

        func cacheDirectory(throttled: Bool = false) throws -> FilePath {
            CacheLocation(root: FilePath(caches.url.path)).existingDirectory(for: try ImageURL(url(throttled: throttled)))
        }

        func run(_ arguments: [String], output: ChildProcess.Stream? = nil) async throws -> LazyDiskRun {
            try await LazyDiskRun.run(arguments + cacheArguments, output: output)
        }

        /// The bytes of the cache's data file whose pages `serve` let go of
        /// (`posix_fadvise` with `DONTNEED`) while `command` read its disk.
        func pagesLetGo(byServing command: String) async throws -> [Range<UInt64>] {
            let trace = caches.url.appending(path: "fadvise.txt").path
            let status = try await LazyDiskRun.runTool("/usr/bin/strace", [
                "-f", "-qq", "-y", "-xx", "-e", "trace=fadvise64", "-o", trace,
                LazyDiskRun.executable.path, "serve", url(), "--read-only", "--run", command,
            ] + cacheArguments)
            #expect(status == 0, "serve --run \(command)")
            return SyscallTrace(try String(contentsOfFile: trace, encoding: .utf8)).calls
                .filter { $0.name == "fadvise64" && $0.path.hasSuffix("/data") }
                .map { $0.offset..<$0.offset + UInt64($0.count) }
        }
    }

    @Test func pullSummaryAsJSON() async throws {
        let setup = try Setup(imageSize: 4 << 20)
        _ = try await setup.run(["pull", setup.url(), "--length", "1M"])
        let pull = try await setup.run(["pull", setup.url(), "--json"])
        #expect(pull.status == 0, "\(pull.error)")
        let summary = try #require(try JSONSerialization.jsonObject(with: pull.output) as? [String: Any])
        #expect(summary["bytes_wanted"] as? Int == 4 << 20 && summary["bytes_fetched"] as? Int == 3 << 20, "\(summary)")
        #expect(summary["bytes_already_cached"] as? Int == 1 << 20)
        #expect((summary["requests_by_purpose"] as? [String: Int])?["fill"] == summary["requests"] as? Int)
        #expect(!String(decoding: pull.output, as: UTF8.self).contains("SECRET"))
    }

    @Test func pulledImageReadsBackOffline() async throws {
        let setup = try Setup()
        let pull = try await setup.run(["pull", setup.url()])
        #expect(pull.status == 0, "\(pull.error)")
        let summary = String(decoding: pull.output, as: UTF8.self)
        // A request for each of the sixteen connections.
        #expect(summary.contains("fetched 16.0 MiB in 16 requests"), "\(summary)")
        #expect(!(summary + pull.error).contains("SECRET"))

        let again = try await setup.run(["pull", setup.url()])
        #expect(String(decoding: again.output, as: UTF8.self).contains("fetched 0 B in 0 requests"))

        let offline = try await setup.run(["cat", setup.url(), "--offline"])
        #expect(offline.status == 0, "\(offline.error)")
        #expect(offline.output == (try setup.image))
    }

    /// `cat` reads several steps at once and writes them in order: an image
    /// of more steps than it reads at once, ending inside one, comes out
    /// whole, cold and then from the cache.
    @Test func catWritesEveryStepInOrder() async throws {
        let setup = try Setup(imageSize: (22 << 20) + 512)
        let cold = try await setup.run(["cat", setup.url()])
        #expect(cold.status == 0, "\(cold.error)")
        #expect(cold.output == (try setup.image))
        let offline = try await setup.run(["cat", setup.url(), "--offline"])
        #expect(offline.output == (try setup.image))
    }

    /// `cat` of cached steps to a file writes them from the cache's data
    /// file (`sendfile`); into a file opened for appending, which `sendfile`
    /// refuses, it copies them instead. (To a pipe it copies them too:
    /// ``streamingCommandsLeaveTheCachesPagesOnDisk()`` finds the pages gone.)
    @Test func catWritesCachedStepsFromTheCacheFile() async throws {
        let setup = try Setup(imageSize: (9 << 20) + 512)
        #expect(try await setup.run(["pull", setup.url()]).status == 0)
        let output = setup.caches.url.appending(path: "out.img").path
        let trace = setup.caches.url.appending(path: "sendfile.txt").path
        let traced = try await LazyDiskRun.runTool("/bin/sh", ["-c", """
            exec /usr/bin/strace -f -qq -y -e trace=sendfile -o \(trace) \(LazyDiskRun.executable.path) \
                cat '\(setup.url())' --offline --cache \(setup.caches.url.path) > \(output)
            """])
        #expect(traced == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == (try setup.image))
        let sent = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").filter {
            $0.contains("sendfile(1</") && $0.contains("/data>") && $0.hasSuffix("= 16384")
        }
        #expect(sent.count == (9 << 20) / 16384, "every whole step, 16 KiB a call")

        try Data("before\n".utf8).write(to: URL(fileURLWithPath: output))
        let appended = try await LazyDiskRun.runTool("/bin/sh", ["-c", """
            exec \(LazyDiskRun.executable.path) cat '\(setup.url())' --offline --cache \(setup.caches.url.path) >> \(output)
            """])
        #expect(appended == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data("before\n".utf8) + (try setup.image))
    }

    /// A pipe holds the pages spliced into it until its reader takes them,
    /// where no advice can let them go: `cat` copies into a pipe, so every
    /// page of the cache it read has left the page cache when it exits,
    /// though nothing read the pipe yet (1 MiB, room for all of it).
    @Test func catToAPipeLeavesNoPageOfTheCacheBehind() async throws {
        let setup = try Setup(imageSize: 512 << 10)
        #expect(try await setup.run(["pull", setup.url()]).status == 0)
        let pipe = try closeOnExecPipe()
        defer { close(pipe.read) }
        let setPipeSize: Int32 = 1031  // F_SETPIPE_SZ, which Glibc's module leaves out (_GNU_SOURCE)
        #expect(fcntl(pipe.write, setPipeSize, 1 << 20) >= 1 << 20)
        let cat = try await setup.run(["cat", setup.url(), "--offline"], output: .descriptor(pipe.write))
        close(pipe.write)
        #expect(cat.status == 0, "\(cat.error)")
        #expect(try residentBytes(of: try setup.cacheDirectory().appending("data")) == 0)
        #expect(FileHandle(fileDescriptor: pipe.read).readDataToEndOfFile() == (try setup.image))
    }

    /// `pull` and `cat` stream the image once: the cache's pages leave the
    /// page cache behind them once durable, so a large image does not push
    /// out what else the host keeps there. The cache still holds every byte.
    @Test func streamingCommandsLeaveTheCachesPagesOnDisk() async throws {
        let pulled = try Setup()
        let pull = try await pulled.run(["pull", pulled.url()])
        #expect(pull.status == 0, "\(pull.error)")
        let pulledData = try pulled.cacheDirectory().appending("data")
        #expect(try residentBytes(of: pulledData) == 0)

        let catted = try Setup()
        let cat = try await catted.run(["cat", catted.url()])
        #expect(cat.output == (try catted.image))
        #expect(try residentBytes(of: try catted.cacheDirectory().appending("data")) == 0)

        let offline = try await pulled.run(["cat", pulled.url(), "--offline"])
        #expect(offline.output == (try pulled.image))
    }

    /// `serve` keeps the cache's pages for guests that read again, but a
    /// bulk reader (one copy of the whole disk) leaves them behind it, as
    /// `cat` does, once it has read the bulk line; pages the cache held
    /// before stay. Read from `serve`'s own `posix_fadvise` calls: the kernel
    /// may reclaim page cache of its own accord (this machine's DAMON pages
    /// out what it deems cold), so residency shows only that pages left.
    @Test func serveLeavesPagesBehindABulkReaderOnly() async throws {
        let setup = try Setup(imageSize: 48 << 20)
        let scatteredReads: [Range<UInt64>] = [0..<1 << 20, 20 << 20..<21 << 20, 40 << 20..<41 << 20]
        let reads = scatteredReads.map { "-c 'read \($0.lowerBound) \($0.count)'" }.joined(separator: " ")
        let scattered = try await setup.pagesLetGo(byServing: "qemu-io -r -f raw \(reads) \"$uri\" > /dev/null")
        #expect(scattered.isEmpty, "a guest's scattered reads keep their pages: \(scattered)")

        let copy = try await setup.pagesLetGo(byServing: "nbdcopy --connections=1 --threads=1 --requests=1 \"$uri\" null:")
        let letGo = copy.reduce(into: Set<UInt64>()) { chunks, bytes in chunks.formUnion(bytes.lowerBound >> 16..<bytes.upperBound >> 16) }
        #expect(letGo.count << 16 >= setup.imageSize / 2, "the copy let go of \(letGo.count) chunks' pages")
        for read in scatteredReads.dropFirst() {
            #expect(copy.allSatisfy { !$0.overlaps(read) }, "the pages of \(read), cached before the copy, stay: \(copy.filter { $0.overlaps(read) })")
        }
        let resident = try residentBytes(of: try setup.cacheDirectory().appending("data"))
        #expect(resident <= setup.imageSize / 2, "\(resident) bytes of the copied 48 MiB stayed in the page cache")

        let offline = try await setup.run(["cat", setup.url(), "--offline"])
        #expect(offline.output == (try setup.image))
    }

    /// Without a cache, a lone 4 KiB read fetches its 16 KiB chunk, not the
    /// 64 KiB a cache on disk keeps: what a random reader pays the origin.
    @Test func aReadWithoutACacheFetchesASmallChunk() async throws {
        let setup = try Setup(imageSize: 8 << 20)
        let read = try await LazyDiskRun.run(["cat", setup.url(), "--no-cache", "--format", "raw", "--offset", "5000K", "--length", "4K"])
        #expect(read.status == 0, "\(read.error)")
        #expect(read.output == (try setup.image)[5000 << 10..<5004 << 10])
        let ranges = setup.nginx.accessLog.filter { $0.hasPrefix("GET ") && !$0.contains("bytes=0-0") }
        #expect(ranges.count == 1 && ranges.first?.contains("\"bytes=5111808-5128191\"") == true, "\(ranges)")
    }

    /// A server that keeps failing: the pull exits non-zero with one clear
    /// line, and the cache it leaves opens cleanly.
    @Test func failedPullLeavesAUsableCache() async throws {
        let server = try await FaultServer.start(content: Array(repeating: 9, count: 8 << 20), fault: .disconnectMidBody(times: 1000))
        let caches = try TemporaryDirectory()
        let result = try await LazyDiskRun.run(["pull", server.url, "--format", "raw", "--retries", "1", "--cache", caches.url.path])
        #expect(result.status != 0)
        let last = result.error.split(separator: "\n").last ?? ""
        #expect(last.hasPrefix("Error: ") && last.contains("gave up after 2 attempts"), "\(result.error)")
        #expect(!result.error.contains("SECRET"))
        let directory = CacheLocation(root: FilePath(caches.url.path)).existingDirectory(for: try ImageURL(server.url))
        #expect(try FileCacheLayer.openExisting(at: directory).presentChunkCount == 0)
    }

    /// A small read fetches its whole chunk, and the chunk stays cached.
    @Test func smallReadCachesItsWholeChunk() async throws {
        let setup = try Setup(imageSize: 1 << 20)
        let read = try await setup.run(["cat", setup.url(), "--offset", "70000", "--length", "10"])
        #expect(read.output == (try setup.image)[70000..<70010])
        let cache = try FileCacheLayer.openExisting(at: try setup.cacheDirectory())
        #expect(cache.presentChunkCount == 1 && cache.isPresent(1))
        let ranges = setup.nginx.accessLog.filter { $0.hasPrefix("GET /disk.img") && !$0.contains("bytes=0-0") }
        #expect(ranges.contains { $0.contains("\"bytes=65536-131071\"") }, "\(ranges)")
        let offline = try await setup.run(["cat", setup.url(), "--offline", "--offset", "65536", "--length", "64K"])
        #expect(offline.output == (try setup.image)[65536..<131072])
    }

    @Test func offlineMissIsAClearError() async throws {
        let setup = try Setup()
        _ = try await setup.run(["pull", setup.url(), "--length", "1M"])
        let result = try await setup.run(["cat", setup.url(), "--offline", "--offset", "2M", "--length", "4K"])
        #expect(result.status != 0)
        // 2 MiB is sector 4096; the read's whole 64 KiB chunk is missing.
        #expect(result.error.contains("sectors 4096 to 4103 are not in the cache, and --offline forbids fetching them"), "\(result.error)")
        #expect(!result.error.contains("..<"))
        let none = try await LazyDiskRun.run(["cat", setup.url(), "--offline", "--cache", setup.caches.url.path + "/none"])
        #expect(none.error.contains("no cache at"), "\(none.error)")
    }

    /// kill -9 at random moments of a pull, over and over: every chunk the
    /// cache marks present matches the image, and the pull then completes.
    @Test func pullSurvivesRepeatedKills() async throws {
        let setup = try Setup(imageSize: 256 << 20)
        let image = try setup.image
        let directory = try setup.cacheDirectory(throttled: true)
        // Two throttled connections: 16 MiB/s, so 20 kills come long before the end.
        let arguments = ["pull", setup.url(throttled: true), "--connections", "2"] + setup.cacheArguments
        let log = setup.caches.url.appending(path: "pull.log")
        // The timing runs on a thread of its own: a busy cooperative pool
        // could otherwise delay the kill until the pull has finished.
        let problems = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var problems: [String] = []
                for kill in 1...20 {
                    do {
                        let process = try LazyDiskRun.start(arguments, errorLog: log)
                        usleep(UInt32.random(in: 30_000...200_000))
                        guard process.isRunning else {
                            problems.append("the pull ended by itself before kill \(kill): \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
                            break
                        }
                        process.send(SIGKILL)
                        _ = process.waitBlocking()
                        problems += try mismatchedChunks(directory, image: image).map { "after kill \(kill): \($0)" }
                    } catch {
                        problems.append("kill \(kill): \(error)")
                    }
                }
                continuation.resume(returning: problems)
            }
        }
        #expect(problems.isEmpty, "\(problems)")
        let finish = try await setup.run(["pull", setup.url(throttled: true)])
        #expect(finish.status == 0, "\(finish.error)")
        let cache = try FileCacheLayer.openExisting(at: directory)
        #expect(cache.presentChunkCount == cache.chunkCount)
        #expect(try mismatchedChunks(directory, image: image).isEmpty)
    }

    @Test func twoPullsShareOneCache() async throws {
        let setup = try Setup(imageSize: 64 << 20)
        async let first = setup.run(["pull", setup.url(throttled: true)])
        async let second = setup.run(["pull", setup.url(throttled: true)])
        let results = try await [first, second]
        #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.error))")
        #expect(try mismatchedChunks(try setup.cacheDirectory(throttled: true), image: try setup.image).isEmpty)
        let third = try await setup.run(["pull", setup.url(throttled: true)])
        #expect(String(decoding: third.output, as: UTF8.self).contains("fetched 0 B in 0 requests"))
        let gets = setup.nginx.accessLog.filter { $0.hasPrefix("GET /throttled/disk.img") && !$0.contains("bytes=0-0") }
        let fetched = gets.compactMap { Int($0.split(separator: " ").last ?? "") }.reduce(0, +)
        // Not a byte twice: only each pull's 512-byte looks for a qcow2 header
        // and a VHD footer repeat.
        #expect(fetched <= setup.imageSize + 3 * 2 * 512, "the pulls fetched \(fetched) bytes together")
    }

    @Test func changedImageRebuildsTheCacheWithAWarning() async throws {
        let setup = try Setup(imageSize: 1 << 20)
        _ = try await setup.run(["pull", setup.url()])
        try await Task.sleep(for: .seconds(1.1))
        try randomFile(at: setup.served.url.appending(path: "disk.img"), size: 1 << 20)
        let result = try await setup.run(["cat", setup.url()])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.error.contains("warning: the cache for") && result.error.contains("was discarded and rebuilt"), "\(result.error)")
        #expect(!result.error.contains("SECRET"))
        #expect(result.output == (try setup.image))
    }

    @Test func verifyFindsCorruptedData() async throws {
        let setup = try Setup(imageSize: 1 << 20)
        _ = try await setup.run(["pull", setup.url()])
        let clean = try await setup.run(["cache", "verify", setup.url()])
        #expect(clean.status == 0)
        #expect(String(decoding: clean.output, as: UTF8.self).contains("checked 16 cached chunks"))

        let data = try FileHandle(forUpdating: URL(fileURLWithPath: try setup.cacheDirectory().appending("data").string))
        try data.seek(toOffset: 3 * 65536 + 100)
        try data.write(contentsOf: Data([0x42, 0x42, 0x42]))
        try data.close()
        let dirty = try await setup.run(["cache", "verify", setup.url()])
        #expect(dirty.status != 0)
        #expect(String(decoding: dirty.output, as: UTF8.self).contains("1 differ from the server\ndiffering chunks: 3"))
    }

    @Test func listStatusAndClear() async throws {
        let setup = try Setup(imageSize: 1 << 20)
        _ = try await setup.run(["pull", setup.url(), "--length", "512K"])
        let list = String(decoding: try await setup.run(["cache", "list"]).output, as: UTF8.self)
        #expect(list.contains("on disk  50.0% (512.0 KiB of 1.0 MiB)  last used "), "\(list)")
        #expect(list.contains("  \(setup.nginx.url("disk.img"))\ntotal "), "\(list)")
        let statusJSON = try await setup.run(["cache", "status", setup.url(), "--json"])
        let fields = try #require(try JSONSerialization.jsonObject(with: statusJSON.output) as? [String: Any])
        #expect(fields["cached_bytes"] as? Int == 512 << 10 && fields["disk_size"] as? Int == 1 << 20, "\(fields)")
        #expect(!String(decoding: statusJSON.output, as: UTF8.self).contains("SECRET"))
        let status = String(decoding: try await setup.run(["cache", "status", setup.url()]).output, as: UTF8.self)
        #expect(status.contains("coverage       50.0%"))
        #expect(status.contains("########........"))
        #expect(!status.contains("SECRET"))
        let clear = try await setup.run(["cache", "clear", setup.url()])
        #expect(clear.status == 0)
        #expect(!FileManager.default.fileExists(atPath: try setup.cacheDirectory().string))
    }

    /// A cache on a full file system: reads still succeed, the failure is
    /// reported once.
    @Test func fullDiskDoesNotFailReads() async throws {
        let setup = try Setup(imageSize: 4 << 20)
        let mount = try TemporaryDirectory()
        try runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mount.url.path])
        defer { _ = try? runTool("/bin/umount", [mount.url.path]) }
        let result = try await LazyDiskRun.run(["cat", setup.url(), "--cache", mount.url.path])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output == (try setup.image))
        #expect(result.error.contains("warning: cannot store fetched data in the cache"), "\(result.error)")
        #expect(result.error.split(separator: "\n").count == 1)
    }
}

/// Chunks the cache in `directory` marks present whose bytes differ from
/// `image`. A cache not (completely) created yet holds nothing to check.
func mismatchedChunks(_ directory: FilePath, image: Data) throws -> [String] {
    let cache: FileCacheLayer
    do {
        cache = try FileCacheLayer.openExisting(at: directory)
    } catch CacheFileError.missing {
        return []
    }
    let data = try FileHandle(forReadingFrom: URL(fileURLWithPath: directory.appending("data").string))
    defer { try? data.close() }
    var mismatched: [String] = []
    for chunk in 0..<cache.chunkCount where cache.isPresent(chunk) {
        let range = cache.chunkLayout.byteRange(ofChunk: chunk)
        try data.seek(toOffset: range.lowerBound)
        if try data.read(upToCount: range.count) != image[Int(range.lowerBound)..<Int(range.upperBound)] {
            mismatched.append("chunk \(chunk) is marked present but differs from the image")
        }
    }
    return mismatched
}
