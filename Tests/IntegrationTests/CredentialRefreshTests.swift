import Foundation
import HTTPTestServers
import Testing

/// Credentials that expire while `serve` runs: nginx's `secure_link`
/// (docker/nginx.conf) refuses a link or a bearer token once its time has
/// passed, as object stores refuse an expired presigned URL or token, and
/// a command mints new ones, as a user's script would.
@Suite("Credentials renewed while serving")
struct CredentialRefreshTests {
    static let size = 1 << 20
    static let readSize = 64 << 10

    /// A served image, and a script in `work` that prints a link (or with
    /// `bearer`, an Authorization header) that nginx accepts for about a
    /// second: `sh mint.sh PATH [bearer]`.
    struct Origin {
        let work: TemporaryDirectory
        let nginx: NginxServer
        let image: Data
        let mint: String

        init(imageSize: Int = CredentialRefreshTests.size) throws {
            work = try TemporaryDirectory()
            try randomFile(at: work.url.appending(path: "disk.img"), size: imageSize)
            image = try Data(contentsOf: work.url.appending(path: "disk.img"))
            nginx = try NginxServer(root: work.url)
            mint = work.url.appending(path: "mint.sh").path
            try Data("""
                expires=$(( $(date +%s) + 1 ))
                hash=$(printf '%s' "$expires$1 lazydisk-test-secret" | openssl md5 -binary | openssl base64 | tr +/ -_ | tr -d =)
                if [ "$2" = bearer ]; then echo "Authorization: Bearer $hash,$expires"; else echo "http://127.0.0.1:\(nginx.port)$1?md5=$hash&expires=$expires"; fi
                echo "$hash" >> \(work.url.appending(path: "minted").path)

                """.utf8).write(to: URL(fileURLWithPath: mint))
        }

        /// Every hash the script handed out: secrets that must not leak.
        var minted: [String] {
            ((try? String(contentsOf: work.url.appending(path: "minted"), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        var refusals: Int { nginx.accessLog.filter { $0.contains(" 403 ") || $0.contains(" 401 ") }.count }
    }

    /// `serve` with `arguments` on a socket in `origin.work`, once it listens.
    private static func serve(_ arguments: [String], in origin: Origin) async throws -> (ChildProcess, String) {
        let socket = origin.work.url.appending(path: "nbd.sock").path
        let server = try LazyDiskRun.start(
            ["serve", "-r", "--format", "raw", "--socket", socket] + arguments, errorLog: origin.work.url.appending(path: "serve.log"))
        for _ in 0..<3000 where !FileManager.default.fileExists(atPath: socket) && server.isRunning {
            try await Task.sleep(for: .milliseconds(20))
        }
        return (server, socket)
    }

    /// Reads the image in turn, 64 KiB at a time, until the origin has
    /// refused `expiries` expired credentials; every read must be exact.
    /// The reads block on the socket for tens of seconds, so they run on a
    /// thread of their own, not one of Swift's cooperative pool (two on a
    /// two-core machine), which every other test in the process needs.
    private static func readThrough(_ expiries: Int, socket: String, origin: Origin) async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try readThroughBlocking(expiries, socket: socket, origin: origin) })
            }
        }
    }

    /// Throws, rather than records, what went wrong: off a test's task an
    /// expectation would not be the test's.
    private static func readThroughBlocking(_ expiries: Int, socket: String, origin: Origin) throws -> Int {
        let connection = try RawNBDConnection(socketPath: socket)
        guard connection.handshake() else { throw ReadFailure("the handshake failed") }
        var reads = 0
        var generator = SystemRandomNumberGenerator()
        // Each expiry is met by a refusal and a new link (two requests a
        // refused link failed share one refresh).
        while origin.refusals < expiries || origin.minted.count <= expiries {
            // Random chunks: no readahead, and more than --no-cache keeps in memory.
            let offset = Int.random(in: 0..<origin.image.count / readSize, using: &generator) * readSize
            guard connection.send(RawNBDConnection.request(type: 0, cookie: UInt64(reads), offset: UInt64(offset), length: UInt32(readSize)))
            else { throw ReadFailure("read \(reads) could not be sent") }
            let reply = connection.receive(16 + readSize, timeout: 30_000)
            guard reply.count == 16 + readSize && reply[4..<8].allSatisfy({ $0 == 0 })
                && reply.dropFirst(16).elementsEqual(origin.image[offset..<offset + readSize])
            else { throw ReadFailure("read \(reads) at \(offset) was not the image's bytes") }
            reads += 1
        }
        return reads
    }

    struct ReadFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Reads 4 KiB of another 64 KiB chunk each time (the chunks of
    /// `content` in a scattered order, so nothing is read ahead or read from
    /// memory), until `done`.
    private static func readScattered(_ content: [UInt8], through connection: RawNBDConnection, until done: () -> Bool) async throws {
        let chunks = content.count >> 16
        var cookie: UInt64 = 0
        while !done() {
            cookie += 1
            let offset = (Int(cookie) * 37 % chunks) << 16
            #expect(connection.send(RawNBDConnection.request(type: 0, cookie: cookie, offset: UInt64(offset), length: 4096)))
            let reply = connection.receive(16 + 4096)
            #expect(reply.count == 16 + 4096 && reply.dropFirst(16).elementsEqual(content[offset..<offset + 4096]))
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Serves with `--url-command command`, waits until the first link has
    /// expired (links live at most two seconds), and reads once: the read
    /// must fail. Returns what `serve` printed, once it stopped.
    private static func readOnceAfterExpiry(urlCommand command: String, origin: Origin) async throws -> String {
        let (server, socket) = try await serve(["--url-command", command, "--no-cache"], in: origin)
        defer { server.stop() }
        try await Task.sleep(for: .seconds(2.5))
        let connection = try RawNBDConnection(socketPath: socket)
        #expect(connection.handshake())
        #expect(connection.send(RawNBDConnection.request(type: 0, cookie: 1, offset: 0, length: 4096)))
        let reply = connection.receive(16)
        #expect(reply.count == 16 && reply[4..<8] != [0, 0, 0, 0], "the read succeeded after the refresh")
        #expect(server.stop() == .exited(0))
        return try String(contentsOf: origin.work.url.appending(path: "serve.log"), encoding: .utf8)
    }

    /// A refresh whose command never ends fails the read that waits on it
    /// within `--retry-max-time`, and the command does not outlive it.
    @Test(.timeLimit(.minutes(5))) func aRefreshThatHangsFailsTheReadWithinTheRetryTime() async throws {
        let origin = try Origin()
        let started = origin.work.url.appending(path: "started").path
        let hanging = origin.work.url.appending(path: "hanging").path
        let command = "if [ -e \(started) ]; then echo $$ > \(hanging); exec sleep 600; fi; touch \(started); sh \(origin.mint) /signed/disk.img"
        let (server, socket) = try await Self.serve(["--url-command", command, "--no-cache", "--retry-max-time", "3"], in: origin)
        defer { server.stop() }
        try await Task.sleep(for: .seconds(2.5))
        let connection = try RawNBDConnection(socketPath: socket)
        #expect(connection.handshake())
        #expect(connection.send(RawNBDConnection.request(type: 0, cookie: 1, offset: 0, length: 4096)))
        let reply = connection.receive(16, timeout: 30_000)
        #expect(reply.count == 16 && reply[4..<8] != [0, 0, 0, 0], "no failed reply while the refresh hung")
        #expect(server.stop() == .exited(0))
        let log = try String(contentsOf: origin.work.url.appending(path: "serve.log"), encoding: .utf8)
        #expect(log.contains("refreshing them failed: it did not finish within the ") && log.contains(" s the request had left"), "\(log)")
        let pid = try #require(Int32(String(contentsOfFile: hanging, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(!ProcessProbe.isAlive(pid), "the hanging command outlived serve")
    }

    /// No hash the script minted, and not the signing secret, in `text`.
    private static func expectNoSecret(in text: String, origin: Origin, _ what: String) {
        #expect(!origin.minted.contains { text.contains($0) } && !text.contains("lazydisk-test-secret"), "a secret in \(what)")
    }

    @Test(.timeLimit(.minutes(5))) func aServeOutlivesTenExpiriesOfItsURL() async throws {
        // Twice what --no-cache keeps in memory, so random reads keep missing.
        let origin = try Origin(imageSize: 128 << 20)
        let (server, socket) = try await Self.serve(["--url-command", "sh \(origin.mint) /signed/disk.img", "--no-cache"], in: origin)
        defer { server.stop() }
        let arguments = try String(contentsOfFile: "/proc/\(server.pid)/cmdline", encoding: .utf8)
        _ = try await Self.readThrough(10, socket: socket, origin: origin)
        #expect(origin.refusals >= 10)
        #expect(origin.minted.count > 10)
        #expect(server.stop() == .exited(0))
        let log = try String(contentsOf: origin.work.url.appending(path: "serve.log"), encoding: .utf8)
        Self.expectNoSecret(in: log, origin: origin, "serve's output")
        Self.expectNoSecret(in: arguments, origin: origin, "serve's arguments")
        #expect(log.contains("requests: read"), "serve prints its counters at exit: \(log)")
    }

    @Test(.timeLimit(.minutes(5))) func aHeaderCommandFollowsARotatingBearerToken() async throws {
        let origin = try Origin()
        let cache = origin.work.url.appending(path: "cache")
        let (server, socket) = try await Self.serve([
            origin.nginx.url("bearer/disk.img"), "--header-command", "sh \(origin.mint) /bearer/disk.img bearer", "--cache", cache.path,
            "--connections", "1",
        ], in: origin)
        defer { server.stop() }
        // The cache fills as it reads; wait out a token first, so a miss meets an expired one.
        try await Task.sleep(for: .seconds(2.5))
        let reads = try await Self.readThrough(1, socket: socket, origin: origin)
        #expect(reads > 0 && origin.minted.count >= 2, "the token was not renewed")
        #expect(server.stop() == .exited(0))
        Self.expectNoSecret(in: try String(contentsOf: origin.work.url.appending(path: "serve.log"), encoding: .utf8), origin: origin, "output")
        for file in FileManager.default.enumerator(at: cache, includingPropertiesForKeys: nil)?.compactMap({ $0 as? URL }) ?? [] {
            let bytes = (try? Data(contentsOf: file)) ?? Data()
            Self.expectNoSecret(in: String(decoding: bytes, as: UTF8.self), origin: origin, file.lastPathComponent)
        }
    }

    /// A header file that an agent rewrites is read again once it changed,
    /// before any request is refused: later requests carry the new token.
    @Test(.timeLimit(.minutes(5))) func aChangedHeaderFileIsReadAgain() async throws {
        let content = (0..<(16 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let server = try await FaultServer.start(content: content)
        let origin = try Origin()
        let headerFile = origin.work.url.appending(path: "token")
        try Data("Authorization: Bearer first-SECRET\n".utf8).write(to: headerFile)
        let (serve, socket) = try await Self.serve([server.url, "--header-file", headerFile.path, "--no-cache"], in: origin)
        defer { serve.stop() }
        let connection = try RawNBDConnection(socketPath: socket)
        #expect(connection.handshake())
        let temporary = origin.work.url.appending(path: "token.new")
        try Data("Authorization: Bearer second-SECRET\n".utf8).write(to: temporary)
        #expect(rename(temporary.path, headerFile.path) == 0)
        try await Self.readScattered(content, through: connection) {
            server.requests.contains { $0.authorization == "Bearer second-SECRET" }
        }
        #expect(server.requests.allSatisfy { $0.status != 401 && $0.status != 403 })
    }

    /// `--refresh-interval` renews credentials on schedule, before any
    /// refusal: a token that changes on every run of its command reaches the
    /// server in turn while nothing is refused.
    @Test(.timeLimit(.minutes(5))) func credentialsAreRenewedOnSchedule() async throws {
        let content = (0..<(16 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let server = try await FaultServer.start(content: content)
        let origin = try Origin()
        let counter = origin.work.url.appending(path: "runs").path
        let command = "echo x >> \(counter); echo \"Authorization: Bearer run-$(wc -l < \(counter))\""
        let (serve, socket) = try await Self.serve(
            [server.url, "--header-command", command, "--refresh-interval", "0.2", "--no-cache"], in: origin)
        defer { serve.stop() }
        let connection = try RawNBDConnection(socketPath: socket)
        #expect(connection.handshake())
        try await Self.readScattered(content, through: connection) {
            Set(server.requests.compactMap(\.authorization)).count >= 3
        }
        #expect(server.requests.allSatisfy { $0.status != 401 && $0.status != 403 })
    }

    /// A refreshed URL must name the object that was opened: one that leads
    /// to another is refused, and the guest's read fails rather than mixing.
    @Test(.timeLimit(.minutes(5))) func aRefreshToAnotherObjectIsRefused() async throws {
        let origin = try Origin()
        try randomFile(at: origin.work.url.appending(path: "other.img"), size: Self.size / 2)
        let counter = origin.work.url.appending(path: "runs").path
        // One run at start; later ones mint links to another object.
        let command = "echo x >> \(counter); if [ $(wc -l < \(counter)) -le 1 ]; then sh \(origin.mint) /signed/disk.img; "
            + "else sh \(origin.mint) /signed/other.img; fi"
        let log = try await Self.readOnceAfterExpiry(urlCommand: command, origin: origin)
        #expect(log.contains("(image_changed)"), "\(log)")
    }

    /// A refresh that fails is one clear line naming the command and its
    /// status, never its output, and the guest's read fails with EIO.
    @Test(.timeLimit(.minutes(5))) func aFailedRefreshSaysWhichCommandFailed() async throws {
        let origin = try Origin()
        let counter = origin.work.url.appending(path: "runs").path
        // One run at start (its URL opens the image and is the first
        // credential, so a second run there would fail serve); later ones fail.
        let command = "echo x >> \(counter); [ $(wc -l < \(counter)) -le 1 ] || exit 3; sh \(origin.mint) /signed/disk.img"
        let log = try await Self.readOnceAfterExpiry(urlCommand: command, origin: origin)
        #expect(log.contains("(credentials_rejected)") && log.contains("exited with status 3"), "\(log)")
        Self.expectNoSecret(in: log, origin: origin, "serve's output")
    }
}
