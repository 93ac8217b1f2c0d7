import Foundation
import HTTPTestServers
import Testing

/// `lazydisk serve` with the NBD clients users run: qemu-img, qemu-io,
/// nbdinfo, nbdcopy; and a stream of malformed frames.
@Suite("lazydisk serve over NBD")
struct NBDServeTests {
    static let fixtures = NginxFixtures.directory

    /// Runs `script` under `lazydisk serve URL --run`, with the fixture image.
    private func serve(_ script: String, extra: [String] = []) async throws -> (LazyDiskRun, NginxServer) {
        let nginx = try NginxServer(root: Self.fixtures)
        let caches = try TemporaryDirectory()
        let result = try await LazyDiskRun.run(
            ["serve", nginx.url("hello.img?sig=SECRET"), "--cache", caches.url.path, "--run", script] + extra)
        return (result, nginx)
    }

    private func text(_ result: LazyDiskRun) -> String { String(decoding: result.output, as: UTF8.self) }

    @Test func qemuImgInfoConvertAndCompare() async throws {
        let output = try TemporaryDirectory()
        let (result, _) = try await serve("""
            qemu-img info "$uri" && qemu-img convert -O raw "$uri" \(output.url.path)/copy.img \
            && qemu-img compare -f raw -F raw "$uri" \(Self.fixtures.path)/hello.img
            """)
        #expect(result.status == 0, "\(result.error)")
        #expect(text(result).contains("virtual size: 64 KiB (65536 bytes)"))
        #expect(text(result).contains("Images are identical."))
        #expect(try Data(contentsOf: output.url.appending(path: "copy.img")) == Data(contentsOf: Self.fixtures.appending(path: "hello.img")))
        #expect(!(text(result) + result.error).contains("SECRET"))
    }

    /// Unaligned writes through qemu-io land in the RAM overlay: the patched
    /// bytes read back, the bytes around them are untouched, and the image on
    /// the server (and a later serve) never changes.
    @Test func writesLandInTheOverlayAndVerify() async throws {
        let output = try TemporaryDirectory()
        let (result, _) = try await serve("""
            qemu-io -f raw -c 'write -P 0xab 1000 5000' -c 'read -P 0xab 1000 5000' "$uri" \
            && nbdcopy "$uri" \(output.url.path)/after.img
            """)
        #expect(result.status == 0, "\(result.error)")
        #expect(text(result).contains("read 5000/5000 bytes at offset 1000"), "\(text(result))")
        #expect(!text(result).contains("Pattern verification failed"))
        let fixture = try Data(contentsOf: Self.fixtures.appending(path: "hello.img"))
        let after = try Data(contentsOf: output.url.appending(path: "after.img"))
        #expect(after[..<1000] == fixture[..<1000])
        #expect(after[1000..<6000].allSatisfy { $0 == 0xAB })
        #expect(after[6000...] == fixture[6000...])

        let (again, _) = try await serve("qemu-img compare -f raw -F raw \"$uri\" \(Self.fixtures.path)/hello.img")
        #expect(text(again).contains("Images are identical."))
    }

    @Test func readOnlyExportRefusesWriters() async throws {
        let (result, _) = try await serve("""
            qemu-io -f raw -c 'write -P 1 0 512' "$uri"; echo "write=$?"
            qemu-img compare -f raw -F raw "$uri" \(Self.fixtures.path)/hello.img
            """, extra: ["--read-only"])
        #expect(result.status == 0, "\(result.error)")
        #expect(text(result).contains("write=1"))
        #expect(result.error.contains("Permission denied"), "\(result.error)")
        #expect(text(result).contains("Images are identical."))
    }

    @Test func nbdinfoListsAndMaps() async throws {
        let (result, _) = try await serve("nbdinfo --list \"$uri\" && nbdinfo --map \"$uri\"")
        #expect(result.status == 0, "\(result.error)")
        #expect(text(result).contains("export=\"\":"))
        #expect(text(result).contains("export-size: 65536"))
        #expect(text(result).contains("0       65536    0  data"), "\(text(result))")
    }

    @Test func concurrentClientsAllReadTheImage() async throws {
        let output = try TemporaryDirectory()
        let (result, _) = try await serve("""
            for i in 1 2 3 4; do nbdcopy --connections=4 "$uri" \(output.url.path)/copy$i.img & done; wait
            """)
        #expect(result.status == 0, "\(result.error)")
        let fixture = try Data(contentsOf: Self.fixtures.appending(path: "hello.img"))
        for index in 1...4 {
            #expect(try Data(contentsOf: output.url.appending(path: "copy\(index).img")) == fixture)
        }
    }

    @Test func commandStatusBecomesTheExitStatus() async throws {
        let (result, _) = try await serve("exit 3")
        #expect(result.status == 3)
    }

    /// Thousands of random and mutated frames, over many connections: none
    /// crashes the server, bad requests get error replies, and a proper client
    /// still reads the right bytes afterwards.
    /// `lazydisk serve --read-only` of the fixture on a unix socket in `work`,
    /// once the socket is there.
    private static func startServer(_ nginx: NginxServer, in work: TemporaryDirectory) async throws -> (ChildProcess, socketPath: String) {
        try await LazyDiskRun.startServing(nginx.url("hello.img"), in: work, extra: ["--read-only"])
    }

    @Test func malformedFramesNeverTakeTheServerDown() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        // Read-only: a mutated frame may well be a valid WRITE or TRIM, and
        // the check afterwards is that nothing changed the bytes.
        let (server, socketPath) = try await Self.startServer(nginx, in: work)
        defer { server.stop() }
        let findings = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Self.fuzz(socketPath: socketPath))
            }
        }
        #expect(findings.isEmpty, "\(findings)")
        #expect(server.isRunning)
        let check = try await LazyDiskRun.runTool("/usr/bin/qemu-img", [
            "compare", "-f", "raw", "-F", "raw", "nbd+unix:///?socket=\(socketPath)", Self.fixtures.appending(path: "hello.img").path,
        ])
        #expect(check == 0)

        // SIGTERM: a clean stop that removes the socket.
        server.send(SIGTERM)
        #expect(await server.wait() == .exited(0))
        #expect(!FileManager.default.fileExists(atPath: socketPath))
    }

    /// A client that sends 1 GiB worth of reads and takes no replies is held
    /// back by the socket: the server stops reading requests instead of
    /// queueing their replies, and every reply still comes once it reads.
    @Test func aClientThatTakesNoRepliesIsHeldBackNotBuffered() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        let (server, socketPath) = try await Self.startServer(nginx, in: work)
        defer { server.stop() }
        let image = try [UInt8](Data(contentsOf: Self.fixtures.appending(path: "hello.img")))
        let outcome = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Self.readWithoutTakingReplies(socketPath: socketPath, server: server, image: image))
            }
        }
        #expect(outcome.stalled, "the client sent every request without waiting: the server kept reading")
        #expect(outcome.residentBytes > 0 && outcome.residentBytes < 256 << 20, "server RSS \(outcome.residentBytes) bytes while stalled")
        #expect(outcome.replies == Self.unreadRequests)
        #expect(outcome.findings.isEmpty, "\(outcome.findings)")
    }

    private static let unreadRequests = 16_384

    /// Sends `unreadRequests` reads of the whole 64 KiB image as fast as the
    /// socket takes them, looks at the server's memory once it stops taking
    /// them, then reads and checks every reply while sending the rest.
    private static func readWithoutTakingReplies(
        socketPath: String, server: ChildProcess, image: [UInt8]
    ) -> (stalled: Bool, residentBytes: Int, replies: Int, findings: [String]) {
        guard let connection = try? RawNBDConnection(socketPath: socketPath), connection.handshake() else {
            return (false, 0, 0, ["no connection"])
        }
        let frames = (0..<unreadRequests).flatMap {
            RawNBDConnection.request(type: 0, cookie: UInt64($0), offset: 0, length: UInt32(image.count))
        }
        var unsent = frames[...]
        // Stalled: the socket took nothing for 200 ms.
        var idleRounds = 0
        while !unsent.isEmpty, idleRounds < 10 {
            let sent = connection.sendWithoutWaiting(unsent)
            unsent = unsent.dropFirst(sent)
            idleRounds = sent == 0 ? idleRounds + 1 : 0
            usleep(20_000)
        }
        let stalled = !unsent.isEmpty
        let resident = residentBytes(of: server.pid)
        var replies = 0
        var findings: [String] = []
        while replies < unreadRequests, findings.isEmpty {
            unsent = unsent.dropFirst(connection.sendWithoutWaiting(unsent))
            let header = connection.receive(16)
            let data = connection.receive(image.count)
            // Every reply is whole; comparing all 1 GiB would only slow the test.
            let intact = data.count == image.count && (replies % 512 != 0 || data == image)
            if header.count != 16 || header[4..<8] != [0, 0, 0, 0] || !intact {
                findings.append("reply \(replies): header \(header), \(data.count) bytes")
            }
            replies += 1
        }
        return (stalled, resident, findings.isEmpty ? replies : replies - 1, findings)
    }

    /// VmRSS from /proc, in bytes; 0 if it cannot be read.
    private static func residentBytes(of pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { return 0 }
        return kilobytes << 10
    }

    /// Sends the frames; returns what went wrong.
    private static func fuzz(socketPath: String) -> [String] {
        var findings: [String] = []
        var random = SystemRandomNumberGenerator()
        let valid = RawNBDConnection.request(type: 0, cookie: 1, offset: 0, length: 512)
        for round in 0..<300 {
            guard let connection = try? RawNBDConnection(socketPath: socketPath) else {
                findings.append("round \(round): cannot connect")
                break
            }
            if round % 3 == 0 {
                // Garbage in the handshake phase.
                _ = connection.receive(18)
                connection.send((0..<Int.random(in: 1...200, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) })
                continue
            }
            guard connection.handshake() else {
                findings.append("round \(round): handshake failed")
                continue
            }
            // A read past the end must get EINVAL, not a dropped connection.
            connection.send(RawNBDConnection.request(type: 0, cookie: 7, offset: 65536, length: 512))
            let reply = connection.receive(16)
            if reply.count != 16 || reply[4..<8] != [0, 0, 0, 22] {
                findings.append("round \(round): out-of-range read answered \(reply)")
            }
            for _ in 0..<20 {
                var frame = valid
                switch Int.random(in: 0..<5, using: &random) {
                case 0: frame[Int.random(in: 0..<frame.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                case 1: frame.replaceSubrange(6..<8, with: RawNBDConnection.bigEndian(UInt16.random(in: 8...UInt16.max, using: &random)))
                case 2: frame.replaceSubrange(4..<6, with: RawNBDConnection.bigEndian(UInt16.random(in: 32...UInt16.max, using: &random)))
                case 3: frame.replaceSubrange(16..<24, with: RawNBDConnection.bigEndian(UInt64.random(in: 0...UInt64.max, using: &random)))
                default: frame.replaceSubrange(24..<28, with: RawNBDConnection.bigEndian(UInt32.random(in: 0...UInt32.max, using: &random)))
                }
                guard connection.send(frame) else { break }
                _ = connection.receive(16, timeout: 50)
            }
        }
        return findings
    }
}

enum NginxFixtures {
    static let directory = NginxServer.repositoryRoot.appending(path: "fixtures")
}
