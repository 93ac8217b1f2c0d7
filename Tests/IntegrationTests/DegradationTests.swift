import FileCache
import Foundation
import HTTPClient
import HTTPTestServers
import ImageModel
import SystemPackage
import Testing

/// When the machine lets lazydisk down (a full disk, a read-only cache, an
/// origin that never answers), reads go on where they can, work resumes when
/// it can, and a failure comes in time with its reason.
@Suite("Degrade, recover, say why")
struct DegradationTests {
    /// A 4 MiB image served while its cache's file system is full: every
    /// read succeeds; once there is room, what is read again is stored.
    @Test func storingResumesOnceTheDiskHasRoomAgain() async throws {
        let setup = try TmpfsSetup(imageSize: 4 << 20, tmpfsSize: "1m")
        let (served, nginx, mount) = (setup.served, setup.nginx, setup.mount)
        let copies = try TemporaryDirectory()
        let result = try await LazyDiskRun.run([
            "serve", nginx.url("disk.img"), "--cache", mount.url.path, "--run", """
                nbdcopy "$uri" \(copies.url.path)/full.img && mount -o remount,size=16m \(mount.url.path) \
                && nbdcopy "$uri" \(copies.url.path)/roomy.img
                """,
        ])
        #expect(result.status == 0, "\(result.error)")
        let image = try Data(contentsOf: served.url.appending(path: "disk.img"))
        #expect(try Data(contentsOf: copies.url.appending(path: "full.img")) == image)
        #expect(try Data(contentsOf: copies.url.appending(path: "roomy.img")) == image)
        #expect(result.error.contains("warning: cannot store fetched data in the cache"), "\(result.error)")
        let cache = try FileCacheLayer.openExisting(
            at: CacheLocation(root: FilePath(mount.url.path)).existingDirectory(for: try ImageURL(nginx.url("disk.img"))))
        #expect(cache.presentChunkCount == cache.chunkCount)
        #expect(try mismatchedChunks(cache.directory, image: image).isEmpty)
    }

    @Test func aReadOnlyCacheStillServesOfflineReads() async throws {
        let setup = try TmpfsSetup(imageSize: 1 << 20, tmpfsSize: "8m")
        let (served, nginx, mount) = (setup.served, setup.nginx, setup.mount)
        let pull = try await LazyDiskRun.run(["pull", nginx.url("disk.img"), "--cache", mount.url.path])
        #expect(pull.status == 0, "\(pull.error)")
        try runTool("/bin/mount", ["-o", "remount,ro", mount.url.path])
        let offline = try await LazyDiskRun.run(["cat", nginx.url("disk.img"), "--offline", "--cache", mount.url.path])
        #expect(offline.status == 0, "\(offline.error)")
        #expect(offline.output == (try Data(contentsOf: served.url.appending(path: "disk.img"))))
        let status = try await LazyDiskRun.run(["cache", "status", nginx.url("disk.img"), "--cache", mount.url.path])
        #expect(String(decoding: status.output, as: UTF8.self).contains("coverage       100.0%"), "\(status.error)")
    }

    /// An origin that takes requests and never answers: retries stop once
    /// another attempt could not fail within the retry time, and the error
    /// says so.
    @Test func anOriginThatNeverAnswersFailsWithinTheRetryTime() async throws {
        let server = try await FaultServer.start(content: [1], fault: .neverAnswers)
        for command in ["info", "cat"] {
            let result = try await LazyDiskRun.run([command, server.url, "--low-speed-timeout", "1", "--retry-max-time", "3"])
            #expect(result.status == 1)
            #expect(result.error.contains("another could not end within the retry time of 3 s"), "\(result.error)")
            #expect(!result.error.contains("SECRET"))
        }
    }

    @Test func theDefaultsGiveUpWithinAMinute() {
        let defaults = RetryPolicy()
        #expect(defaults.maximumTime <= .seconds(60))
        #expect(HTTPClientConfiguration().lowSpeedTimeout < defaults.maximumTime)
    }
}

/// A random image served by nginx, and a cache root on a tmpfs of its own
/// (a file system a test can fill or make read-only), unmounted afterwards.
private final class TmpfsSetup {
    let served: TemporaryDirectory
    let nginx: NginxServer
    let mount: TemporaryDirectory

    init(imageSize: Int, tmpfsSize: String) throws {
        served = try TemporaryDirectory()
        try randomFile(at: served.url.appending(path: "disk.img"), size: imageSize)
        nginx = try NginxServer(root: served.url)
        mount = try TemporaryDirectory()
        try runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=\(tmpfsSize)", "tmpfs", mount.url.path])
    }

    deinit {
        _ = try? runTool("/bin/umount", [mount.url.path])
    }
}
