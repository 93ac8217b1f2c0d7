import Foundation
import HTTPTestServers
import Testing

/// What a client or a command line cannot push `serve` into: memory past
/// the overlay's limit, an export it was not given, a handshake it does not
/// speak, a listening address it did not mean.
@Suite("serve keeps its bounds")
struct ServeBoundsTests {
    static let fixtures = NginxFixtures.directory

    private func serve(_ script: String, extra: [String] = []) async throws -> LazyDiskRun {
        let nginx = try NginxServer(root: Self.fixtures)
        let caches = try TemporaryDirectory()
        return try await LazyDiskRun.run(["serve", nginx.url("hello.img"), "--cache", caches.url.path, "--run", script] + extra)
    }

    private func text(_ result: LazyDiskRun) -> String { String(decoding: result.output, as: UTF8.self) }

    /// The overlay holds writes in 32 KiB groups: with a 32 KiB limit the
    /// first group takes writes and a second is refused with ENOSPC.
    @Test func writesPastTheOverlayLimitGetNoSpace() async throws {
        let result = try await serve("""
            qemu-io -f raw -c 'write -P 1 0 4096' "$uri" && echo first=written
            qemu-io -f raw -c 'write -P 2 40960 4096' "$uri"
            qemu-io -f raw -c 'read -P 1 0 4096' "$uri" && echo first=kept
            """, extra: ["--overlay-max", "32K"])
        #expect(result.status == 0, "\(result.error)")
        #expect(text(result).contains("first=written") && text(result).contains("first=kept"), "\(text(result))")
        #expect((text(result) + result.error).contains("No space left on device"), "\(text(result)) \(result.error)")
    }

    @Test func onlyTheGivenExportNameIsServed() async throws {
        let result = try await serve("""
            nbdinfo --size "$(echo "$uri" | sed 's|///boot|///other|')"; echo other=$?
            nbdinfo --size "$uri"; echo boot=$?
            """, extra: ["--export-name", "boot"])
        #expect(result.status == 0, "\(result.error)")
        #expect(text(result).contains("other=1") && text(result).contains("65536\nboot=0"), "\(text(result))")
    }

    @Test func unknownClientFlagsEndTheHandshake() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        let (server, socketPath) = try await LazyDiskRun.startServing(nginx.url("hello.img"), in: work)
        defer { server.stop() }
        let connection = try RawNBDConnection(socketPath: socketPath)
        #expect(connection.receive(18).count == 18)
        _ = connection.send(RawNBDConnection.bigEndian(UInt32(3 | 1 << 5)))
        _ = connection.send(RawNBDConnection.option(7, data: RawNBDConnection.bigEndian(UInt32(0)) + RawNBDConnection.bigEndian(UInt16(0))))
        #expect(connection.receive(20).isEmpty, "the server answered a client with unknown flags")
        #expect(server.isRunning)
    }

    @Test func theListeningAddressIsCheckedForWhatItMeans() async throws {
        let refused = try await serve("true", extra: ["--port", "0", "--address", "0"])
        #expect(refused.status != 0 && refused.error.contains("it means 0.0.0.0"), "\(refused.error)")
        let unknown = try await serve("true", extra: ["--port", "0", "--address", "127.0.0.1.example.invalid"])
        #expect(unknown.status != 0 && unknown.error.contains("cannot resolve --address"), "\(unknown.error)")
        let local = try await serve("nbdinfo --size \"$uri\"", extra: ["--port", "0", "--address", "localhost"])
        #expect(local.status == 0, "\(local.error)")
        #expect(text(local).contains("65536"))
    }

    /// A script reading `serve`'s output through a pipe gets the URI while
    /// the server runs, not when it exits.
    @Test func theURILineReachesAPipeAtOnce() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        let pipe = try closeOnExecPipe()
        let server: ChildProcess
        do {
            defer { close(pipe.write) }
            server = try LazyDiskRun.start(
                ["serve", nginx.url("hello.img"), "--cache", work.url.path], errorLog: work.url.appending(path: "log"),
                output: .descriptor(pipe.write))
        }
        defer { server.stop() }
        let line = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: Self.firstLine(of: pipe.read))
            }
        }
        #expect(line.hasPrefix("nbd+unix:///?socket="), "\(line)")
        #expect(server.isRunning)
        let check = try await LazyDiskRun.runTool("/usr/bin/nbdinfo", ["--size", line])
        #expect(check == 0)
    }

    /// Reads up to a newline, giving up after a minute without one.
    private static func firstLine(of descriptor: Int32) -> String {
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while !bytes.contains(UInt8(ascii: "\n")), poll(&poller, 1, 60_000) == 1 {
            var byte: UInt8 = 0
            guard read(descriptor, &byte, 1) == 1 else { break }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .newlines)
    }
}
