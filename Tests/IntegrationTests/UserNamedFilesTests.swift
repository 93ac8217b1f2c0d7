import Foundation
import HTTPTestServers
import Testing

/// Files a user names (`--pidfile`, `--header-file`, `--url-file`) are
/// opened as what they are: a pid file is never written through a link nor
/// taken from a live server, and an option file that is not a regular file
/// is refused by its type, in words, without hanging.
@Suite("Files named by the user")
struct UserNamedFilesTests {
    static let fixtures = NginxFixtures.directory

    @Test(.timeLimit(.minutes(5))) func aPidFileThatIsALinkIsRefusedAndItsTargetKept() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        let target = work.url.appending(path: "precious")
        try Data("keep me\n".utf8).write(to: target)
        let link = work.url.appending(path: "serve.pid").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target.path)
        let socketPath = work.url.appending(path: "nbd.sock").path
        let result = try await LazyDiskRun.run(
            ["serve", nginx.url("hello.img"), "--socket", socketPath, "--pidfile", link, "--cache", work.url.path, "--run", "true"])
        #expect(result.status == 1)
        #expect(result.error == "Error: --pidfile \(link) is a symbolic link; name the file itself\n", "\(result.error)")
        #expect(try String(contentsOf: target, encoding: .utf8) == "keep me\n")
        #expect(!FileManager.default.fileExists(atPath: socketPath))
    }

    /// A second server on a live server's pid file is refused; the first
    /// one's file keeps its pid, and goes only when the first one stops.
    @Test(.timeLimit(.minutes(5))) func aLiveServersPidFileIsNotTaken() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        let pidfile = work.url.appending(path: "serve.pid").path
        let (first, _) = try await LazyDiskRun.startServing(nginx.url("hello.img"), in: work, extra: ["--pidfile", pidfile])
        defer { first.stop() }
        while (try? String(contentsOfFile: pidfile, encoding: .utf8)) != "\(first.pid)\n" {
            try await Task.sleep(for: .milliseconds(10))
        }
        let secondSocket = work.url.appending(path: "second.sock").path
        let second = try await LazyDiskRun.run(
            ["serve", nginx.url("hello.img"), "--socket", secondSocket, "--pidfile", pidfile, "--cache", work.url.path, "--run", "true"])
        #expect(second.status == 1)
        #expect(second.error == "Error: --pidfile \(pidfile) belongs to a running server (pid \(first.pid))\n", "\(second.error)")
        #expect(!FileManager.default.fileExists(atPath: secondSocket))
        #expect(try String(contentsOfFile: pidfile, encoding: .utf8) == "\(first.pid)\n")
        #expect(first.stop() == .exited(0))
        #expect(!FileManager.default.fileExists(atPath: pidfile))
    }

    @Test(.timeLimit(.minutes(5))) func anOptionFileThatIsNotARegularFileIsRefusedByType() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let work = try TemporaryDirectory()
        let fifo = work.url.appending(path: "fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let cases = [(fifo, "a FIFO"), ("/dev/zero", "a device"), (work.url.path, "a directory")]
        for (path, type) in cases {
            let result = try await LazyDiskRun.run(["info", nginx.url("hello.img"), "--header-file", path])
            #expect(result.status == 1)
            #expect(result.error == "Error: cannot read --header-file \(path): it is \(type), not a regular file\n", "\(result.error)")
        }
        let missing = try await LazyDiskRun.run(["info", "--url-file", work.url.appending(path: "none").path])
        #expect(missing.error.contains("No such file or directory") && !missing.error.contains("Domain"), "\(missing.error)")
    }
}
