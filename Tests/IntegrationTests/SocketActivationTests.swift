import Foundation
import HTTPTestServers
import Testing

/// `serve` started by socket activation, as a host's `.socket` unit starts
/// it: `systemd-socket-activate` holds the socket and starts lazydisk on
/// the first connection, which lazydisk then serves.
@Suite("Socket activation")
struct SocketActivationTests {
    @Test(.timeLimit(.minutes(5))) func theFirstClientStartsTheServerOnTheSocketHandedOver() async throws {
        let nginx = try NginxServer(root: NginxFixtures.directory)
        let work = try TemporaryDirectory()
        let socket = work.url.appending(path: "image.sock").path
        let log = work.url.appending(path: "serve.log")
        let errorFile = open(log.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { close(errorFile) }
        let activator = try ChildProcess(
            "/usr/bin/systemd-socket-activate",
            ["-l", socket, LazyDiskRun.executable.path, "serve", nginx.url("hello.img"), "--cache", work.url.path],
            error: .descriptor(errorFile))
        for _ in 0..<3000 where !FileManager.default.fileExists(atPath: socket) && activator.isRunning {
            try await Task.sleep(for: .milliseconds(20))
        }
        let copy = work.url.appending(path: "copy.img").path
        #expect(try await LazyDiskRun.runTool("/usr/bin/nbdcopy", ["nbd+unix:///?socket=\(socket)", copy]) == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == Data(contentsOf: NginxFixtures.directory.appending(path: "hello.img")))

        activator.send(SIGTERM)
        #expect(await activator.wait() == .exited(0))
        let said = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(said.contains("at nbd+unix:///?socket=\(socket)"), "\(said)")
        #expect(FileManager.default.fileExists(atPath: socket), "the socket belongs to the service manager, not to serve")
    }

    @Test func aSocketHandedOverCannotBeRenamed() async throws {
        let work = try TemporaryDirectory()
        let socket = work.url.appending(path: "image.sock").path
        let result = try await LazyDiskRun.runTool(
            "/bin/sh", ["-c", """
                /usr/bin/systemd-socket-activate -l \(socket) \(LazyDiskRun.executable.path) serve http://127.0.0.1:9/x.img \
                    --socket \(work.url.path)/other.sock 2>\(work.url.path)/err & activator=$!
                for i in $(seq 500); do [ -S \(socket) ] && break; sleep 0.02; done
                nbdinfo --size 'nbd+unix:///?socket=\(socket)' 2>/dev/null
                wait $activator
                """])
        #expect(result != 0)
        let said = (try? String(contentsOf: work.url.appending(path: "err"), encoding: .utf8)) ?? ""
        #expect(said.contains("--socket and --port cannot name another"), "\(said)")
    }
}
