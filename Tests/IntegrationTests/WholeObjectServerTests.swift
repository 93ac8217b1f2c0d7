import Foundation
import HTTPTestServers
import Testing

/// Servers that ignore `Range` (`python3 -m http.server`, some CDNs and
/// artifact servers): lazydisk says so once and reads the image by one
/// download, in order, into the cache, for `cat`, `pull` and `serve`.
@Suite("Servers without range requests")
struct WholeObjectServerTests {
    static let size = 3 << 20

    final class Setup: Sendable {
        let work: TemporaryDirectory
        let server: PythonHTTPServer
        let image: Data

        init() throws {
            work = try TemporaryDirectory()
            let served = work.url.appending(path: "served")
            try FileManager.default.createDirectory(at: served, withIntermediateDirectories: true)
            try randomFile(at: served.appending(path: "disk.img"), size: WholeObjectServerTests.size)
            image = try Data(contentsOf: served.appending(path: "disk.img"))
            server = try PythonHTTPServer(root: served)
        }

        var url: String { server.url("disk.img") }
        var cache: String { work.url.appending(path: "cache").path }
        /// GETs of the image: the open's probe and detection's looks at its
        /// two ends (sent beside HEAD, each cut at its first bytes), then
        /// the downloads.
        var downloads: Int { server.requests.filter { $0.hasPrefix("GET /disk.img ") }.count - 3 }
    }

    @Test(.timeLimit(.minutes(5))) func catReadsTheImageByOneDownload() async throws {
        let setup = try Setup()
        let cat = try await LazyDiskRun.run(["cat", setup.url, "--cache", setup.cache])
        #expect(cat.status == 0, "\(cat.error)")
        #expect(cat.output == setup.image)
        #expect(setup.downloads == 1)
        #expect(cat.error.components(separatedBy: "the server ignores range requests").count == 2, "one warning: \(cat.error)")
    }

    @Test(.timeLimit(.minutes(5))) func pullIsOneDownloadAndTheCacheServesOffline() async throws {
        let setup = try Setup()
        let pull = try await LazyDiskRun.run(["pull", setup.url, "--cache", setup.cache])
        #expect(pull.status == 0, "\(pull.error)")
        #expect(setup.downloads == 1)
        let offline = try await LazyDiskRun.run(["cat", setup.url, "--cache", setup.cache, "--offline"])
        #expect(offline.output == setup.image, "\(offline.error)")
    }

    /// The guest's copy is exact, and the whole image ends up cached by
    /// the one download.
    @Test(.timeLimit(.minutes(5))) func serveBootsWhileTheImageStreamsIn() async throws {
        let setup = try Setup()
        let copy = setup.work.url.appending(path: "copy.img").path
        let serve = try await LazyDiskRun.run([
            "serve", setup.url, "--cache", setup.cache, "--socket", setup.work.url.appending(path: "nbd.sock").path,
            "--run", "nbdcopy \"$uri\" \(copy)",
        ])
        #expect(serve.status == 0, "\(serve.error)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == setup.image)
        #expect(setup.downloads == 1)
        let offline = try await LazyDiskRun.run(["cat", setup.url, "--cache", setup.cache, "--offline"])
        #expect(offline.output == setup.image, "\(offline.error)")
    }

    /// A qcow2 is told by its first bytes, `info` reads its header from
    /// them, and `cat` decodes it as the download streams in.
    @Test(.timeLimit(.minutes(5))) func aQcow2IsDecodedFromTheDownload() async throws {
        let setup = try Setup()
        let served = setup.work.url.appending(path: "served")
        try runTool("/usr/bin/qemu-img", ["convert", "-f", "raw", "-O", "qcow2", served.appending(path: "disk.img").path, served.appending(path: "disk.qcow2").path])
        let info = try await LazyDiskRun.run(["info", setup.server.url("disk.qcow2")])
        let text = String(decoding: info.output, as: UTF8.self)
        #expect(text.contains("qcow2") && text.contains("\(Self.size) bytes (the qcow2 image's virtual disk)"), "\(text)\(info.error)")
        let json = try await LazyDiskRun.run(["info", setup.server.url("disk.qcow2"), "--json"])
        let facts = try JSONSerialization.jsonObject(with: json.output) as? [String: Any]
        #expect(facts?["ranges_served"] as? Bool == false && facts?["format"] as? String == "qcow2", "\(String(decoding: json.output, as: UTF8.self))")
        let cat = try await LazyDiskRun.run(["cat", setup.server.url("disk.qcow2"), "--cache", setup.cache])
        #expect(cat.status == 0, "\(cat.error)")
        #expect(cat.output == setup.image)
    }

    @Test func noCacheIsRefusedWithWhatToDo() async throws {
        let setup = try Setup()
        let cat = try await LazyDiskRun.run(["cat", setup.url, "--no-cache"])
        #expect(cat.status == 1)
        #expect(cat.error.contains("the server does not support range requests") && cat.error.contains("drop --no-cache"), "\(cat.error)")
    }

    /// A download cut halfway starts again from byte 0 (the server cannot
    /// resume) and the bytes still come out exact, each written once.
    @Test(.timeLimit(.minutes(5))) func aDownloadCutHalfwayStartsAgainAndIsExact() async throws {
        let content = (0..<Self.size).map { UInt8(truncatingIfNeeded: $0 &* 31 >> 7) }
        let origin = try await FaultServer.start(content: content, fault: .ignoresRangeCuttingDownloads(times: 1))
        let work = try TemporaryDirectory()
        let cache = work.url.appending(path: "cache").path
        let pull = try await LazyDiskRun.run(["pull", origin.url, "--cache", cache, "--format", "raw"])
        #expect(pull.status == 0, "\(pull.error)")
        #expect(origin.requests.filter { $0.method == "GET" }.map(\.range) == ["bytes=0-0", nil, nil])
        let offline = try await LazyDiskRun.run(["cat", origin.url, "--cache", cache, "--offline", "--format", "raw"])
        #expect(offline.output == Data(content), "\(offline.error)")
    }
}
