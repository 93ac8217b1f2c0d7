import FileCache
import Foundation
import HTTPTestServers
import ImageModel
import SystemPackage
import Testing

extension ManyProcessTests {
    /// Processes sharing one cache root fetch each byte once: a chunk another
    /// process is fetching is waited for and read from the cache, and a process
    /// killed mid-fetch leaves its chunks to the others.
    @Suite("Processes sharing a cache")
    struct SharedCacheTests {
        final class Setup: Sendable {
            let served = try! TemporaryDirectory()
            let caches = try! TemporaryDirectory()
            let copies = try! TemporaryDirectory()
            let nginx: NginxServer
            let image: Data

            init(imageSize: Int) throws {
                try randomFile(at: served.url.appending(path: "disk.img"), size: imageSize)
                image = try Data(contentsOf: served.url.appending(path: "disk.img"))
                nginx = try NginxServer(root: served.url)
            }

            func url(throttled: Bool = false) -> String { nginx.url((throttled ? "throttled/" : "") + "disk.img") }

            /// `serve` with `nbdcopy` of the disk to copy `name` as its `--run` line.
            func serveAndCopy(_ name: String, throttled: Bool = false, extra: [String] = []) -> [String] {
                ["serve", url(throttled: throttled), "--cache", caches.url.path, "--run", "nbdcopy \"$uri\" \(copy(name).path)"] + extra
            }

            func copy(_ name: String) -> URL { copies.url.appending(path: name) }

            /// Bytes nginx sent of the image, less the 512-byte looks for a
            /// qcow2 header and a VHD footer and the size probe every process makes.
            var bytesSent: Int {
                nginx.accessLog.filter { $0.contains("GET /") && $0.contains("disk.img") }
                    .compactMap { Int($0.split(separator: " ").last ?? "") }
                    .filter { $0 > 512 }
                    .reduce(0, +)
            }

            var cacheDirectory: FilePath {
                get throws { CacheLocation(root: FilePath(caches.url.path)).existingDirectory(for: try ImageURL(url(throttled: true))) }
            }
        }

        @Test func eightServesStartedTogetherFetchTheImageOnce() async throws {
            let setup = try Setup(imageSize: 16 << 20)
            let runs = try await withThrowingTaskGroup(of: LazyDiskRun.self) { group in
                for index in 0..<8 {
                    group.addTask { try await LazyDiskRun.run(setup.serveAndCopy("copy\(index).img")) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(runs.allSatisfy { $0.status == 0 }, "\(runs.map(\.error))")
            for index in 0..<8 {
                #expect(try Data(contentsOf: setup.copy("copy\(index).img")) == setup.image, "copy \(index)")
            }
            let ratio = Double(setup.bytesSent) / Double(setup.image.count)
            #expect(ratio <= 1.02, "nginx sent \(ratio)× the image")
        }

        /// At 8 MiB/s a connection and four connections each, the three take
        /// over a second, so their fetches overlap.
        @Test func aPullRacingTwoServesFetchesTheImageOnce() async throws {
            let setup = try Setup(imageSize: 32 << 20)
            let slow = ["--connections", "4"]
            async let pull = LazyDiskRun.run(["pull", setup.url(throttled: true), "--cache", setup.caches.url.path] + slow)
            async let first = LazyDiskRun.run(setup.serveAndCopy("first.img", throttled: true, extra: slow))
            async let second = LazyDiskRun.run(setup.serveAndCopy("second.img", throttled: true, extra: slow))
            let runs = try await [pull, first, second]
            #expect(runs.allSatisfy { $0.status == 0 }, "\(runs.map(\.error))")
            #expect(try Data(contentsOf: setup.copy("first.img")) == setup.image)
            #expect(try Data(contentsOf: setup.copy("second.img")) == setup.image)
            let ratio = Double(setup.bytesSent) / Double(setup.image.count)
            #expect(ratio <= 1.02, "nginx sent \(ratio)× the image")
        }

        /// A serve killed while its fetches hold claims: the kernel drops them,
        /// the two serves waiting on them fetch those chunks themselves, and
        /// every copy and every chunk the cache marks is exact, and only what
        /// the victim had in flight is fetched twice.
        @Test func aServeKilledMidFetchLeavesItsChunksToTheOthers() async throws {
            let setup = try Setup(imageSize: 32 << 20)
            let victimLog = setup.copies.url.appending(path: "victim.log")
            let victim = try LazyDiskRun.start(
                setup.serveAndCopy("victim.img", throttled: true, extra: ["--connections", "1"]), errorLog: victimLog)
            // The victim starts alone, so its fetches come first; the others
            // start once it holds a claim (a POSIX write lock in /proc/locks)
            // and it is killed the moment one of them waits on its claim: a
            // kill mid-fetch with a waiter, whatever the machine's load.
            // Watched from a thread of its own, not the cooperative pool.
            let claimed = await onThread { Self.wait(until: { Self.holdsClaim(victim.pid) }, while: victim) }
            async let first = LazyDiskRun.run(setup.serveAndCopy("first.img", throttled: true))
            async let second = LazyDiskRun.run(setup.serveAndCopy("second.img", throttled: true))
            let killedMidFetch = await onThread {
                guard claimed, Self.wait(until: { Self.claimIsWaitedOn(victim.pid) }, while: victim) else { return false }
                victim.send(SIGKILL)
                _ = victim.waitBlocking()
                return true
            }
            #expect(killedMidFetch, "the victim was never seen holding a claim another serve waited on: \((try? String(contentsOf: victimLog, encoding: .utf8)) ?? "")")
            let runs = try await [first, second]
            #expect(runs.allSatisfy { $0.status == 0 }, "\(runs.map(\.error))")
            #expect(try Data(contentsOf: setup.copy("first.img")) == setup.image)
            #expect(try Data(contentsOf: setup.copy("second.img")) == setup.image)
            #expect(try mismatchedChunks(setup.cacheDirectory, image: setup.image).isEmpty)
            // What the victim had in flight is fetched again, no more.
            let ratio = Double(setup.bytesSent) / Double(setup.image.count)
            #expect(ratio <= 1.5, "nginx sent \(ratio)× the image")
        }
    }
}

extension ManyProcessTests.SharedCacheTests {
    /// One line of /proc/locks: a lock held, or (`->`) a request blocked on one.
    struct KernelLock {
        var isBlocked: Bool
        var isPOSIXWrite: Bool
        var pid: String
        var file: Substring
        var bytes: ClosedRange<UInt64>

        init?(_ line: Substring) {
            var fields = line.split(separator: " ").dropFirst()
            isBlocked = fields.first == "->"
            if isBlocked { fields = fields.dropFirst() }
            let values = Array(fields)
            guard values.count == 7, let start = UInt64(values[5]) else { return nil }
            isPOSIXWrite = values[0] == "POSIX" && values[2] == "WRITE"
            pid = String(values[3])
            file = values[4]
            bytes = start...(UInt64(values[6]) ?? .max)
        }

        static var all: [KernelLock] {
            ((try? String(contentsOfFile: "/proc/locks", encoding: .utf8)) ?? "").split(separator: "\n").compactMap(KernelLock.init)
        }
    }

    /// The POSIX write locks (chunk claims) process `pid` holds among `locks`.
    static func claims(of pid: pid_t, in locks: [KernelLock]) -> [KernelLock] {
        locks.filter { !$0.isBlocked && $0.isPOSIXWrite && $0.pid == "\(pid)" }
    }

    /// Whether process `pid` holds a chunk claim now.
    static func holdsClaim(_ pid: pid_t) -> Bool {
        !claims(of: pid, in: KernelLock.all).isEmpty
    }

    /// Whether a request is blocked on a claim process `pid` holds.
    static func claimIsWaitedOn(_ pid: pid_t) -> Bool {
        let locks = KernelLock.all
        let claims = claims(of: pid, in: locks)
        return locks.contains { waiter in
            waiter.isBlocked && claims.contains { $0.file == waiter.file && $0.bytes.overlaps(waiter.bytes) }
        }
    }

    /// Polls `condition` every 5 ms for up to a minute while `process`
    /// runs; whether it came true. Blocks the calling thread.
    static func wait(until condition: () -> Bool, while process: ChildProcess) -> Bool {
        for _ in 0..<12_000 where process.isRunning {
            if condition() { return true }
            usleep(5000)
        }
        return false
    }
}

/// Runs `body` on a thread of its own and returns what it returns.
private func onThread<Result: Sendable>(_ body: @escaping @Sendable () -> Result) async -> Result {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: body()) }
    }
}
