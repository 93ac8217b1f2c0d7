import Foundation
import HTTPTestServers
import Testing

/// `serve` as a service on a fleet host: it never takes over a live socket,
/// keeps its default socket private, tells a service manager when it is
/// ready, passes signals to its `--run` command, and leaves nothing behind.
@Suite("serve as a service")
struct ServeServiceTests {
    static let fixtures = NginxFixtures.directory

    private static func waitFor(_ condition: () -> Bool) async throws {
        while !condition() {
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test(.timeLimit(.minutes(5))) func aSocketARunningServerHoldsIsRefusedAndAStaleOneReplaced() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        let (first, socketPath) = try await LazyDiskRun.startServing(nginx.url("hello.img"), in: work)
        defer { first.stop() }
        let second = try await LazyDiskRun.run(["serve", nginx.url("hello.img"), "--socket", socketPath, "--run", "true"])
        #expect(second.status != 0 && second.error.contains("belongs to a running server"), "\(second.error)")
        #expect(try await LazyDiskRun.runTool("/usr/bin/nbdinfo", ["--size", "nbd+unix:///?socket=\(socketPath)"]) == 0)

        // A socket file nobody listens on any more is replaced.
        #expect(first.stop() == .exited(0))
        let stale = work.url.appending(path: "stale.sock").path
        try Self.makeStaleSocket(at: stale)
        let third = try await LazyDiskRun.run([
            "serve", nginx.url("hello.img"), "--socket", stale, "--cache", work.url.path, "--run", "nbdinfo --size \"$uri\"",
        ])
        #expect(third.status == 0, "\(third.error)")
        #expect(!FileManager.default.fileExists(atPath: stale))
    }

    @Test func theRunCommandFindsNbdkitsVariables() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        let socketPath = work.url.appending(path: "nbd.sock").path
        let unix = try await LazyDiskRun.run([
            "serve", nginx.url("hello.img"), "-r", "--socket", socketPath, "--export-name", "boot", "--cache", work.url.path,
            "--run", "echo \"[$unixsocket][$exportname][$port]\"",
        ])
        #expect(String(decoding: unix.output, as: UTF8.self) == "[\(socketPath)][boot][]\n", "\(unix.error)")
        let tcp = try await LazyDiskRun.run([
            "serve", nginx.url("hello.img"), "--port", "0", "--cache", work.url.path, "--run", "echo \"[$unixsocket][$port]\"",
        ])
        let text = String(decoding: tcp.output, as: UTF8.self)
        #expect(text.hasPrefix("[][") && Int(text.dropFirst(3).prefix { $0 != "]" }).map { $0 > 0 } == true, "\(text)")
    }

    /// SIGTERM to `serve --run` goes to the command, which decides how to
    /// stop; `serve` exits with its status and removes its socket.
    @Test(.timeLimit(.minutes(5))) func aSignalGoesToTheRunCommand() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        let socketPath = work.url.appending(path: "nbd.sock").path
        let ready = work.url.appending(path: "ready").path
        let output = work.url.appending(path: "output").path
        let server = try LazyDiskRun.start([
            "serve", nginx.url("hello.img"), "--socket", socketPath, "--cache", work.url.path, "--run",
            "trap 'echo got-term > \(output); exit 7' TERM; touch \(ready); while :; do sleep 0.05; done",
        ], errorLog: work.url.appending(path: "log"))
        defer { server.stop() }
        try await Self.waitFor { FileManager.default.fileExists(atPath: ready) }
        server.send(SIGTERM)
        #expect(await server.wait() == .exited(7))
        #expect((try? String(contentsOfFile: output, encoding: .utf8)) == "got-term\n")
        #expect(!FileManager.default.fileExists(atPath: socketPath))
    }

    /// A first SIGTERM without `--run` takes no new connections but answers
    /// what clients already sent: a read waiting on the origin gets its
    /// bytes, then `serve` exits 0 and removes its socket.
    @Test(.timeLimit(.minutes(5))) func aFirstSignalAnswersRequestsAlreadySent() async throws {
        let content = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 / 7) }
        let origin = try await FaultServer.start(content: content, fault: .heldUntilReleased)
        let work = try TemporaryDirectory()
        let (server, socketPath) = try await LazyDiskRun.startServing(origin.url, in: work, extra: ["-r", "--format", "raw"])
        defer { server.stop() }
        let connection = try RawNBDConnection(socketPath: socketPath)
        #expect(connection.handshake())
        #expect(connection.send(RawNBDConnection.request(type: 0, cookie: 7, offset: 4096, length: 4096)))
        try await Self.waitFor { origin.requests.contains { $0.method == "GET" && $0.range != "bytes=0-0" } }

        server.send(SIGTERM)
        let log = work.url.appending(path: "serve.log")
        try await Self.waitFor { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("lazydisk: stopping") }
        try await Self.waitFor { (try? RawNBDConnection(socketPath: socketPath)) == nil }
        #expect(server.isRunning)
        origin.releaseHeld()
        let reply = connection.receive(16 + 4096)
        #expect(reply.count == 16 + 4096)
        let exact = reply.dropFirst(16).elementsEqual(content[4096..<8192])
        #expect(exact, "the read's bytes are not the image's")
        #expect(await server.wait() == .exited(0))
        #expect(!FileManager.default.fileExists(atPath: socketPath))
    }

    /// Replies to requests read before the signal go out whole, however
    /// large, before the connection closes: a 16 MiB read held at the origin
    /// and sixteen 64 KiB reads behind it, none of whose replies the client
    /// takes until the server is stopping.
    @Test(.timeLimit(.minutes(5))) func aStoppingServerSendsItsRepliesWhole() async throws {
        let large = 16 << 20
        let small = 64 << 10
        let content = (0..<(large + 16 * small)).map { UInt8(truncatingIfNeeded: $0 / 13) }
        let origin = try await FaultServer.start(content: content, fault: .heldUntilReleased)
        let work = try TemporaryDirectory()
        let (server, socketPath) = try await LazyDiskRun.startServing(origin.url, in: work, extra: ["-r", "--format", "raw", "--no-cache"])
        defer { server.stop() }
        let connection = try RawNBDConnection(socketPath: socketPath)
        #expect(connection.handshake())
        var requests = RawNBDConnection.request(type: 0, cookie: 0, offset: 0, length: UInt32(large))
        for index in 0..<16 {
            requests += RawNBDConnection.request(type: 0, cookie: UInt64(index + 1), offset: UInt64(large + index * small), length: UInt32(small))
        }
        #expect(connection.send(requests))
        try await Self.waitFor { origin.requests.contains { $0.method == "GET" && $0.range?.hasPrefix("bytes=0-") == true && $0.range != "bytes=0-0" } }

        server.send(SIGTERM)
        let log = work.url.appending(path: "serve.log")
        try await Self.waitFor { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("lazydisk: stopping") }
        origin.releaseHeld()
        // Every reply whole and exact, in any order, then the end.
        var answered: Set<UInt64> = []
        while true {
            let header = connection.receive(16, timeout: 10_000)
            guard header.count == 16 else {
                #expect(header.isEmpty, "a reply cut in its header")
                break
            }
            let cookie = header[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let (offset, length) = cookie == 0 ? (0, large) : (large + Int(cookie - 1) * small, small)
            let data = connection.receive(length, timeout: 10_000)
            #expect(header[4..<8].allSatisfy { $0 == 0 } && data.count == length, "reply \(cookie): \(data.count) of \(length) bytes")
            let exact = data.elementsEqual(content[offset..<offset + length])
            #expect(exact, "reply \(cookie) is not the image's bytes")
            answered.insert(cookie)
        }
        #expect(answered.contains(0), "the large read was not answered")
        #expect(await server.wait() == .exited(0))
    }

    /// A hang-up (a closed terminal or session) stops the server cleanly,
    /// as SIGTERM does: exit 0, no socket or pid file left.
    @Test(.timeLimit(.minutes(5))) func aHangUpStopsTheServerCleanly() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        let pidfile = work.url.appending(path: "serve.pid").path
        let (server, socketPath) = try await LazyDiskRun.startServing(nginx.url("hello.img"), in: work, extra: ["--pidfile", pidfile])
        defer { server.stop() }
        try await Self.waitFor { FileManager.default.fileExists(atPath: pidfile) }
        server.send(SIGHUP)
        #expect(await server.wait() == .exited(0))
        #expect(!FileManager.default.fileExists(atPath: socketPath) && !FileManager.default.fileExists(atPath: pidfile))
    }

    @Test func verboseServeNamesClientsComingAndGoing() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let result = try await LazyDiskRun.run(["serve", nginx.url("hello.img"), "-v", "--run", "nbdinfo --size \"$uri\""])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.error.contains("client connected") && result.error.contains("client disconnected"), "\(result.error)")
    }

    /// systemd's readiness protocol, and a pid file for the rest: READY=1
    /// arrives once the socket listens; the pid file names the server while
    /// it runs and is gone after.
    @Test(.timeLimit(.minutes(5))) func readinessAndPidFile() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        let notifyPath = work.url.appending(path: "notify").path
        let listener = try Self.datagramSocket(at: notifyPath)
        defer { close(listener) }
        let socketPath = work.url.appending(path: "nbd.sock").path
        let pidfile = work.url.appending(path: "serve.pid").path
        let script = "cat \(pidfile) > \(work.url.path)/seen; nbdinfo --size \"$uri\""
        let result = try await LazyDiskRun.run(
            ["serve", nginx.url("hello.img"), "--socket", socketPath, "--pidfile", pidfile, "--cache", work.url.path, "--run", script],
            environment: ["NOTIFY_SOCKET": notifyPath])
        #expect(result.status == 0, "\(result.error)")
        var message = [UInt8](repeating: 0, count: 64)
        let received = recv(listener, &message, message.count, Int32(MSG_DONTWAIT))
        #expect(received > 0 && String(decoding: message.prefix(max(0, received)), as: UTF8.self) == "READY=1")
        let seen = try String(contentsOfFile: work.url.appending(path: "seen").path, encoding: .utf8)
        #expect(Int32(seen.trimmingCharacters(in: .whitespacesAndNewlines)).map { $0 > 0 } == true, "\(seen)")
        #expect(!FileManager.default.fileExists(atPath: pidfile))
    }

    @Test func theDefaultSocketIsInAPrivateDirectory() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        // A short runtime directory: a unix socket's path has room for 107 bytes.
        let runtime = TestTemporaryRoot.url.appending(path: "rt\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: runtime) }
        let result = try await LazyDiskRun.run(
            ["serve", nginx.url("hello.img"), "--cache", work.url.path, "--run", "echo \"$unixsocket\"; stat -c %a \"$(dirname \"$unixsocket\")\""],
            environment: ["XDG_RUNTIME_DIR": runtime])
        let lines = String(decoding: result.output, as: UTF8.self).split(separator: "\n")
        #expect(lines.first?.hasPrefix(runtime + "/lazydisk/lazydisk-") == true, "\(lines) \(result.error)")
        #expect(lines.last == "700")
    }

    /// A unix socket file with no server behind it, as a killed server leaves.
    private static func makeStaleSocket(at path: String) throws {
        let descriptor = try Self.boundSocket(at: path, type: SOCK_STREAM)
        close(descriptor)
    }

    private static func datagramSocket(at path: String) throws -> Int32 {
        try boundSocket(at: path, type: SOCK_DGRAM)
    }

    private static func boundSocket(at path: String, type: __socket_type) throws -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard descriptor >= 0, bound == 0 else { throw CocoaError(.fileWriteUnknown) }
        return descriptor
    }
}
