import Foundation
import HTTPTestServers
import Testing

/// The commands lazydisk starts (`--run`, `--url-command`,
/// `--header-command`) hold none of its descriptors, are signalled with
/// everything they started, and never outlive it or its time limits.
@Suite("Child commands")
struct ChildCommandTests {
    static let fixtures = NginxFixtures.directory

    private static func pid(in path: String) throws -> Int32 {
        try #require(Int32(String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    /// A `--run` shell that leaves QEMU (here `sleep`) behind: the child
    /// holds no socket or event descriptor of serve's, and is stopped when
    /// the shell ends, so nothing keeps the NBD socket after serve exits.
    @Test(.timeLimit(.minutes(5))) func aRunCommandsChildrenHoldNothingOfOursAndEndWithIt() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        let socketPath = work.url.appending(path: "nbd.sock").path
        let left = work.url.appending(path: "left").path
        let descriptors = work.url.appending(path: "descriptors").path
        let server = try LazyDiskRun.start([
            "serve", nginx.url("hello.img"), "--socket", socketPath, "--cache", work.url.path,
            "--run", "sleep 600 & echo $! > \(left); ls -l /proc/self/fd > \(descriptors)",
        ], errorLog: work.url.appending(path: "log"))
        defer { server.stop() }
        #expect(await server.wait() == .exited(0))
        let held = try String(contentsOfFile: descriptors, encoding: .utf8)
        #expect(!held.contains("socket:") && !held.contains("anon_inode:"), "the command holds serve's descriptors:\n\(held)")
        #expect(!ProcessProbe.isAlive(try Self.pid(in: left)), "the command's child outlived serve")
        #expect(!FileManager.default.fileExists(atPath: socketPath))
    }

    /// SIGTERM to `serve --run` reaches the whole command, the child the
    /// shell waits for included, not the shell alone.
    @Test(.timeLimit(.minutes(5))) func aSignalReachesEveryProcessOfTheRunCommand() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        let child = work.url.appending(path: "child").path
        let server = try LazyDiskRun.start([
            "serve", nginx.url("hello.img"), "--socket", work.url.appending(path: "nbd.sock").path, "--cache", work.url.path,
            "--run", "sleep 600 & echo $! > \(child).new; mv \(child).new \(child); wait",
        ], errorLog: work.url.appending(path: "log"))
        defer { server.stop() }
        while !FileManager.default.fileExists(atPath: child) {
            try await Task.sleep(for: .milliseconds(10))
        }
        let sleeper = try Self.pid(in: child)
        #expect(ProcessProbe.isAlive(sleeper))
        server.send(SIGTERM)
        #expect(await server.wait() == .exited(128 + SIGTERM))
        #expect(!ProcessProbe.isAlive(sleeper), "the shell's child did not get the signal")
    }

    /// A credential command that never ends fails the command after
    /// `--retry-max-time`, with a line that says so, and is stopped.
    @Test(.timeLimit(.minutes(5))) func aCredentialCommandThatNeverEndsIsStopped() async throws {
        let work = try TemporaryDirectory()
        let hanging = work.url.appending(path: "hanging").path
        let result = try await LazyDiskRun.run(["info", "--url-command", "echo $$ > \(hanging); exec sleep 600", "--retry-max-time", "1"])
        #expect(result.status != 0)
        #expect(result.error == "Error: --url-command 'echo $$ > \(hanging); exec sleep 600' did not finish within 1 s\n", "\(result.error)")
        #expect(!ProcessProbe.isAlive(try Self.pid(in: hanging)))
    }

    /// 100 MB of output is neither read whole nor echoed.
    @Test(.timeLimit(.minutes(5))) func aCredentialCommandsOutputIsBounded() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let result = try await LazyDiskRun.run(["info", nginx.url("hello.img"), "--header-command", "head -c 100000000 /dev/zero"])
        #expect(result.status != 0)
        #expect(result.error == "Error: --header-command 'head -c 100000000 /dev/zero' printed more than 64 KiB\n", "\(result.error.prefix(300))")
    }
}
