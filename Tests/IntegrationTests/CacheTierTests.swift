import Foundation
import HTTPTestServers
import Testing

extension ManyProcessTests {
    /// lazydisk through a regional HTTP cache (docker/nginx-tier.conf: nginx
    /// `slice 1m` + `proxy_cache` + `proxy_cache_lock`) in front of the origin,
    /// as a fleet shares one.
    @Suite("Through a shared HTTP cache tier")
    struct CacheTierTests {
        static let size = 8 << 20

        final class Setup: Sendable {
            let served: TemporaryDirectory
            let origin: NginxServer
            let tier: NginxServer

            init() throws {
                served = try TemporaryDirectory()
                try randomFile(at: served.url.appending(path: "disk.img"), size: CacheTierTests.size)
                origin = try NginxServer(root: served.url)
                tier = try NginxServer(tierInFrontOf: origin)
            }

            var image: Data { get throws { try Data(contentsOf: served.url.appending(path: "disk.img")) } }

            /// Bytes of the image the origin sent (GETs that succeeded).
            var originBytesSent: Int {
                origin.accessLog.filter { $0.hasPrefix("GET ") }.compactMap { Int($0.split(separator: " ").last ?? "") }.reduce(0, +)
            }
        }

        @Test func readsThroughTheTierAreExact() async throws {
            let setup = try Setup()
            let whole = try await LazyDiskRun.run(["cat", setup.tier.url("disk.img"), "--no-cache"])
            #expect(whole.status == 0, "\(whole.error)")
            #expect(whole.output == (try setup.image))
            let part = try await LazyDiskRun.run(["cat", setup.tier.url("disk.img"), "--no-cache", "--offset", "3000K", "--length", "2000K"])
            #expect(part.output == (try setup.image)[(3000 << 10)..<(5000 << 10)])
            let info = String(decoding: try await LazyDiskRun.run(["info", setup.tier.url("disk.img")]).output, as: UTF8.self)
            let originInfo = String(decoding: try await LazyDiskRun.run(["info", setup.origin.url("disk.img")]).output, as: UTF8.self)
            let etag = { (text: String) in text.split(separator: "\n").first { $0.hasPrefix("etag") } }
            #expect(etag(info) != nil && etag(info) == etag(originInfo), "the tier passes the origin's ETag: \(info)")
        }

        /// Eight hosts pulling the same image at once, each into its own cache:
        /// the origin sends it about once.
        @Test func eightConcurrentColdPullsCostTheOriginAboutOneCopy() async throws {
            let setup = try Setup()
            let caches = try (0..<8).map { _ in try TemporaryDirectory() }
            let url = setup.tier.url("disk.img")
            try await withThrowingTaskGroup(of: LazyDiskRun.self) { group in
                for path in caches.map(\.url.path) {
                    group.addTask { try await LazyDiskRun.run(["pull", url, "--cache", path]) }
                }
                for try await pull in group {
                    #expect(pull.status == 0, "\(pull.error)")
                }
            }
            for cache in caches {
                let offline = try await LazyDiskRun.run(["cat", setup.tier.url("disk.img"), "--offline", "--cache", cache.url.path])
                #expect(offline.output == (try setup.image))
            }
            #expect(Double(setup.originBytesSent) <= 1.1 * Double(Self.size), "origin sent \(setup.originBytesSent) bytes")
        }

        /// The tier holds the first half of the old image when the origin's
        /// changes: a read across both halves fails, and nothing it wrote mixes
        /// the two, and the error says the image changed. (nginx's slice module
        /// cuts the transfer when a slice's ETag differs from the first's;
        /// lazydisk refuses the short body and asks for the byte where it was
        /// cut and the range's last byte on the old ETag; the tier refuses the
        /// one past the changed slice. It may cut a little before that slice,
        /// which one `scripts/test` in nine showed: 4 MiB less 1 KiB arrived.)
        @Test func aChangedOriginIsDetectedNotMixed() async throws {
            let setup = try Setup()
            let old = try setup.image
            _ = try await LazyDiskRun.run(["cat", setup.tier.url("disk.img"), "--no-cache", "--length", "4M"])
            let file = setup.served.url.appending(path: "disk.img")
            try randomFile(at: file, size: Self.size)
            // nginx's ETag is the file's mtime (in seconds) and size: a file of the
            // same size rewritten within the second keeps it. An object store's
            // new object gets a new ETag; move the mtime on to say the same.
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(3600)], ofItemAtPath: file.path)
            let new = try setup.image
            let read = try await LazyDiskRun.run(["cat", setup.tier.url("disk.img"), "--no-cache"])
            #expect(read.status != 0, "a read across the old and new image succeeded")
            #expect(read.error.contains("the remote image changed"), "\(read.error)")
            let written = read.output
            #expect(written == old.prefix(written.count) || written == new.prefix(written.count), "the bytes written mix two images")
        }
    }
}
