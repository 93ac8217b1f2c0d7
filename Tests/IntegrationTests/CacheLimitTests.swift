import FileCache
import Foundation
import HTTPTestServers
import SystemPackage
import Testing

/// A fleet host's cache: bounded in size, least recently used images go
/// first, and an image a running lazydisk uses is never removed.
@Suite("A bounded cache")
struct CacheLimitTests {
    /// Five 1 MiB images served by nginx, and a cache root.
    final class Setup {
        let served: TemporaryDirectory
        let caches: TemporaryDirectory
        let nginx: NginxServer
        static let names = ["a", "b", "c", "d", "e"]

        init() throws {
            served = try TemporaryDirectory()
            for name in Self.names {
                try randomFile(at: served.url.appending(path: "\(name).img"), size: 1 << 20)
            }
            nginx = try NginxServer(root: served.url)
            caches = try TemporaryDirectory()
        }

        var location: CacheLocation { CacheLocation(root: FilePath(caches.url.path)) }
        var totalOnDisk: UInt64 { location.inventory().reduce(0) { $0 + $1.bytesOnDisk } }
        func cachedNames() -> Set<String> {
            Set(location.inventory().compactMap { $0.url?.split(separator: "/").last.map { String($0.dropLast(4)) } })
        }

        func pull(_ name: String, limit: String?) async throws -> LazyDiskRun {
            try await LazyDiskRun.run(["pull", nginx.url("\(name).img"), "--cache", caches.url.path] + (limit.map { ["--cache-max-size", $0] } ?? []))
        }
    }

    /// Pulls started together under a limit that holds one image: each
    /// image being opened is in use, so no pull removes another's cache
    /// under it, and every pull succeeds (before, about one run in four
    /// failed with "no cache at …/meta"). Ten rounds of five.
    @Test(.timeLimit(.minutes(5))) func pullsStartedTogetherDoNotPruneEachOthersOpens() async throws {
        let setup = try Setup()
        let pulls = Setup.names.map { name in
            (name, ["pull", setup.nginx.url("\(name).img"), "--cache", setup.caches.url.path, "--cache-max-size", "1200K"])
        }
        for round in 0..<10 {
            try await withThrowingTaskGroup(of: (String, LazyDiskRun).self) { group in
                for (name, arguments) in pulls {
                    group.addTask { (name, try await LazyDiskRun.run(arguments)) }
                }
                for try await (name, pull) in group {
                    #expect(pull.status == 0, "round \(round), \(name): \(pull.error)")
                }
            }
        }
    }

    /// Each image takes a little over 1 MiB on disk: under a 2.5 MiB limit
    /// two fit, and each pull removes the least recently used other one.
    @Test func pullsStayUnderTheLimitRemovingTheLeastRecentlyUsed() async throws {
        let setup = try Setup()
        for name in ["a", "b", "c"] {
            let pull = try await setup.pull(name, limit: "2560K")
            #expect(pull.status == 0, "\(pull.error)")
            #expect(setup.totalOnDisk <= 2560 << 10, "after \(name): \(setup.totalOnDisk) bytes")
        }
        #expect(setup.cachedNames() == ["b", "c"])
        // A use makes b the most recent: d's pull removes c.
        _ = try await LazyDiskRun.run(["cat", setup.nginx.url("b.img"), "--cache", setup.caches.url.path, "--length", "4K"])
        _ = try await setup.pull("d", limit: "2560K")
        #expect(setup.cachedNames() == ["b", "d"])
    }

    @Test(.timeLimit(.minutes(5))) func anImageInUseIsNeverRemoved() async throws {
        let setup = try Setup()
        _ = try await setup.pull("a", limit: nil)
        let work = try TemporaryDirectory()
        // A server holds a's cache open for as long as it runs.
        let socketPath = work.url.appending(path: "nbd.sock").path
        let server = try LazyDiskRun.start(
            ["serve", setup.nginx.url("a.img"), "--socket", socketPath, "--cache", setup.caches.url.path], errorLog: work.url.appending(path: "log"))
        defer { server.stop() }
        while !FileManager.default.fileExists(atPath: socketPath) && server.isRunning {
            try await Task.sleep(for: .milliseconds(10))
        }
        try #require(server.isRunning, "serve ended: \((try? String(contentsOf: work.url.appending(path: "log"), encoding: .utf8)) ?? "")")
        for name in ["b", "c", "d"] {
            #expect(try await setup.pull(name, limit: "2560K").status == 0)
            #expect(setup.cachedNames().contains("a"), "a was removed while served")
        }
        #expect(setup.totalOnDisk <= 2560 << 10)
        let prune = try await LazyDiskRun.run(["cache", "prune", "--max-size", "0", "--cache", setup.caches.url.path])
        #expect(String(decoding: prune.output, as: UTF8.self).contains("some in use"), "\(prune.error)")
        #expect(setup.cachedNames() == ["a"])
        let clear = try await LazyDiskRun.run(["cache", "clear", setup.nginx.url("a.img"), "--cache", setup.caches.url.path])
        #expect(clear.status != 0 && clear.error.contains("in use"), "\(clear.error)")
        #expect(server.stop() == .exited(0))
        let clearAll = try await LazyDiskRun.run(["cache", "clear", "--all", "--cache", setup.caches.url.path])
        #expect(clearAll.status == 0, "\(clearAll.error)")
        #expect(setup.location.inventory().isEmpty)
    }

    @Test func theLimitCanComeFromTheEnvironmentAndListShowsTheTotal() async throws {
        let setup = try Setup()
        for name in ["a", "b", "c"] {
            let pull = try await LazyDiskRun.run(
                ["pull", setup.nginx.url("\(name).img"), "--cache", setup.caches.url.path], environment: ["LAZYDISK_CACHE_MAX_SIZE": "2560K"])
            #expect(pull.status == 0, "\(pull.error)")
        }
        #expect(setup.cachedNames() == ["b", "c"])
        let list = String(decoding: try await LazyDiskRun.run(["cache", "list", "--cache", setup.caches.url.path]).output, as: UTF8.self)
        #expect(list.contains("in 2 image(s)") && list.contains("c.img") && list.contains("last used"), "\(list)")
        let json = try await LazyDiskRun.run(["cache", "list", "--json", "--cache", setup.caches.url.path])
        let entries = try #require(try JSONSerialization.jsonObject(with: json.output) as? [[String: Any]])
        #expect(entries.count == 2)
        #expect(entries.allSatisfy { $0["in_use"] as? Bool == false && ($0["bytes_on_disk"] as? Int ?? 0) > 1 << 20 })
        #expect(entries.allSatisfy { $0["cached_bytes"] as? Int == 1 << 20 && $0["last_use"] is String })
        #expect((entries.first?["url"] as? String)?.hasSuffix("c.img") == true, "most recently used first")
        let bad = try await LazyDiskRun.run(
            ["pull", setup.nginx.url("d.img"), "--cache", setup.caches.url.path], environment: ["LAZYDISK_CACHE_MAX_SIZE": "lots"])
        #expect(bad.status != 0 && bad.error.contains("LAZYDISK_CACHE_MAX_SIZE=lots is not a size"), "\(bad.error)")
    }
}
