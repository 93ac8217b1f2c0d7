import Foundation
import HTTPTestServers
import Testing

/// Input lazydisk does not control, pushed to the edges of its types: a
/// server's sizes, command-line numbers and durations, and a standard output
/// that cannot take what is written. Each must be one clear error line and
/// an ordinary exit status, never a trap (a signal, status 128 and up).
@Suite("Untrusted input at the edges")
struct UntrustedInputTests {
    static let content = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }

    static func expectOneLineError(_ result: LazyDiskRun, _ context: String, containing text: String? = nil) {
        #expect(result.status > 0 && result.status < 128, "\(context): status \(result.status)")
        let lines = result.error.split(separator: "\n")
        #expect(lines.count == 1 && lines.first?.hasPrefix("Error: ") == true, "\(context): \(result.error)")
        if let text {
            #expect(result.error.contains(text), "\(context): \(result.error)")
        }
    }

    @Test(arguments: [UInt64.max, UInt64.max - 511, UInt64(1) << 63, (UInt64(1) << 60) + 1, UInt64(UInt32.max) << 32])
    func sizesNear2To64AreRefused(size: UInt64) async throws {
        let server = try await FaultServer.start(content: Self.content, fault: .reportsSize(size))
        for command in ["info", "cat"] {
            let result = try await LazyDiskRun.run([command, server.url])
            Self.expectOneLineError(result, "\(command) of \(size) bytes", containing: "at most 1152921504606846976 bytes")
        }
    }

    @Test func commandLineNumbersAtTheEdges() async throws {
        let server = try await FaultServer.start(content: Self.content)
        let cases: [[String]] = [
            ["--connect-timeout", "inf"], ["--connect-timeout", "1e300"], ["--connect-timeout", "nan"], ["--connect-timeout", "-1"],
            ["--low-speed-timeout", "0"], ["--retry-max-time", "1e30"], ["--connections", "0"], ["--connections", "4294967296"],
            ["--connections", "99999999999999999999"], ["--retries", "-1"], ["--retries", "9223372036854775807"],
            ["--offset", "18446744073709551615"], ["--offset", "16384P"], ["--offset", "18446744073709551616"],
            ["--offset", "1", "--length", "18446744073709551615"], ["--offset", "4294967296"], ["--length", "9223372036854775808"],
            ["--offset", "-1"],
        ]
        for arguments in cases {
            let result = try await LazyDiskRun.run(["cat", server.url] + arguments)
            Self.expectOneLineError(result, "\(arguments)")
            #expect(!result.error.contains("SECRET"))
        }
        #expect(server.requests.count <= cases.count * 2)
    }

    @Test func serveOptionsAtTheEdges() async throws {
        let cases: [[String]] = [
            ["--port", "65536"], ["--port", "-1"], ["--port", "9223372036854775807"], ["--fill-rate", "0"],
            ["--overlay-max", "16E"], ["--socket", ""], ["--socket", "a", "--port", "1"],
        ]
        for arguments in cases {
            let result = try await LazyDiskRun.run(["serve", "http://127.0.0.1:1/image"] + arguments)
            Self.expectOneLineError(result, "\(arguments)")
        }
    }

    /// `cat` into a full file, a closed descriptor and a pipe nobody reads.
    @Test func catToAStdoutThatCannotTakeIt() async throws {
        let server = try await FaultServer.start(content: Self.content)
        let full = open("/dev/full", O_WRONLY | O_CLOEXEC)
        defer { close(full) }
        let toFull = try await LazyDiskRun.run(["cat", server.url], output: .descriptor(full))
        Self.expectOneLineError(toFull, "/dev/full", containing: "cannot write to standard output: No space left on device")

        let toClosed = try await LazyDiskRun.run(["cat", server.url], output: .closed)
        Self.expectOneLineError(toClosed, "closed stdout", containing: "cannot write to standard output")

        let pipe = try closeOnExecPipe()
        close(pipe.read)
        defer { close(pipe.write) }
        let toGone = try await LazyDiskRun.run(["cat", server.url], output: .descriptor(pipe.write))
        Self.expectOneLineError(toGone, "broken pipe", containing: "Broken pipe")
    }

    /// Started without a standard output, `serve` keeps its number from the
    /// next file it opens: a `--run` command finds `/dev/null` there, open
    /// for reading only, so what it or `serve` writes to it fails as on a
    /// closed descriptor and lands in no file of the cache.
    @Test func aClosedStandardOutputKeepsItsNumber() async throws {
        let server = try await FaultServer.start(content: Self.content)
        let work = try TemporaryDirectory()
        let seen = work.url.appending(path: "fd1").path
        let result = try await LazyDiskRun.run(
            ["serve", server.url, "--read-only", "--cache", work.url.appending(path: "cache").path,
             "--run", "readlink /proc/$PPID/fd/1 > \(seen); echo x 2> /dev/null || echo refused >> \(seen)"],
            output: .closed)
        #expect(result.status == 0, "\(result.error)")
        #expect((try? String(contentsOfFile: seen, encoding: .utf8)) == "/dev/null\nrefused\n")
    }

    /// A raw image of 1000 bytes is a 1024-byte disk: `info` says so, and
    /// `cat` gives the 1000 bytes and 24 zeros.
    @Test func infoAndCatAgreeOnPadding() async throws {
        let server = try await FaultServer.start(content: Array(Self.content.prefix(1000)))
        let info = try await LazyDiskRun.run(["info", server.url])
        let text = String(decoding: info.output, as: UTF8.self)
        #expect(text.contains("disk size      1024 bytes, 2 sectors of 512 bytes (the image's 1000 bytes, then 24 bytes of zeros"), "\(text)")
        let cat = try await LazyDiskRun.run(["cat", server.url])
        #expect(cat.output == Data(Self.content.prefix(1000)) + Data(count: 24))
    }
}

/// A cache whose files the file system cannot make as large as the disk
/// (ext4 stops at 16 TiB; a server may say 512 PiB) fails with the reason
/// and leaves nothing half made.
@Suite("A cache that cannot be made")
struct UnmakeableCacheTests {
    static let onExt4: Bool = {
        let type = (try? runTool("/usr/bin/stat", ["-f", "-c", "%T", TestTemporaryRoot.url.path])).map { String(decoding: $0, as: UTF8.self) }
        return type?.hasPrefix("ext2/ext3") == true
    }()

    @Test(.enabled(if: onExt4, "ext4 refuses files over 16 TiB; other file systems make them")) func aFailedResizeLeavesNoNewFiles() async throws {
        let server = try await FaultServer.start(content: [1], fault: .reportsSize(1 << 59))
        let caches = try TemporaryDirectory()
        let result = try await LazyDiskRun.run(["cat", server.url, "--format", "raw", "--length", "1", "--cache", caches.url.path])
        #expect(result.status == 1)
        #expect(result.error.contains("resizing") && result.error.contains("too large"), "\(result.error)")
        let left = FileManager.default.enumerator(atPath: caches.url.path)?.compactMap { $0 as? String } ?? []
        #expect(!left.contains { $0.hasSuffix(".new") }, "\(left)")
    }
}
