import Foundation
import HTTPTestServers
import Testing

/// The `lazydisk` executable as a user runs it, against nginx and the fault
/// server.
@Suite("lazydisk info and cat")
struct LazyDiskCommandTests {
    static let fixtures = NginxServer.repositoryRoot.appending(path: "fixtures")

    @Test func infoDescribesTheImageWithoutItsSecret() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let result = try await LazyDiskRun.run(["info", nginx.url("hello.img?X-Amz-Signature=SECRET")])
        #expect(result.status == 0, "\(result.error)")
        let output = String(decoding: result.output, as: UTF8.self)
        #expect(output.contains("url            http://127.0.0.1:\(nginx.port)/hello.img?…"))
        #expect(output.contains("disk size      65536 bytes, 128 sectors of 512 bytes"))
        #expect(output.contains("format         raw"))
        #expect(output.contains("ranges         yes (Accept-Ranges: bytes)"))
        #expect(output.contains("probe read"))
        #expect(!(output + result.error).contains("SECRET"))
    }

    @Test func infoAsJSON() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let result = try await LazyDiskRun.run(["info", nginx.url("hello.img?X-Amz-Signature=SECRET"), "--json"])
        #expect(result.status == 0, "\(result.error)")
        let facts = try #require(try JSONSerialization.jsonObject(with: result.output) as? [String: Any])
        #expect(facts["url"] as? String == "http://127.0.0.1:\(nginx.port)/hello.img?…")
        #expect(facts["disk_size"] as? Int == 65536 && facts["object_size"] as? Int == 65536)
        #expect(facts["format"] as? String == "raw" && facts["ranges_advertised"] as? Bool == true)
        #expect((facts["etag"] as? String)?.hasPrefix("\"") == true)
        #expect(!String(decoding: result.output, as: UTF8.self).contains("SECRET"))
    }

    @Test func catWritesExactlyTheImage() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let whole = try await LazyDiskRun.run(["cat", nginx.url("hello.img")])
        #expect(whole.status == 0, "\(whole.error)")
        #expect(whole.output == (try Data(contentsOf: Self.fixtures.appending(path: "hello.img"))))

        let part = try await LazyDiskRun.run(["cat", nginx.url("hello.img"), "--offset", "1K", "--length", "40"])
        #expect(String(decoding: part.output, as: UTF8.self) == "lazydisk fixture hello.img, sector 2\n\0\0\0")
    }

    @Test func failuresAreOneLineOnStderrAndNonZero() async throws {
        let nginx = try NginxServer(root: Self.fixtures)
        let cases: [([String], String)] = [
            (["cat", nginx.url("missing.img?token=SECRET")], "404 Not Found"),
            (["info", "ftp://example.com/disk.img?token=SECRET"], "not an http(s) URL"),
            (["cat", nginx.url("hello.img"), "--offset", "1G"], "past the end of the 65536-byte disk"),
            (["info", "http://127.0.0.1:1/disk.img?token=SECRET", "--retries", "0"], "Couldn't connect"),
        ]
        for (arguments, message) in cases {
            let result = try await LazyDiskRun.run(arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.output.isEmpty)
            let lines = result.error.split(separator: "\n")
            #expect(lines.count == 1, "\(result.error)")
            #expect(result.error.hasPrefix("Error: ") && result.error.contains(message), "\(result.error)")
            #expect(!result.error.contains("SECRET"))
        }
    }

    @Test func headerFileCarriesCredentials() async throws {
        let server = try await FaultServer.start(content: Array(repeating: 7, count: 4096))
        let directory = try TemporaryDirectory()
        let headerFile = directory.url.appending(path: "headers")
        try "# token for the bucket\nAuthorization: Bearer SECRET-TOKEN\n".write(to: headerFile, atomically: true, encoding: .utf8)
        let result = try await LazyDiskRun.run(["cat", server.url, "--header-file", headerFile.path, "--length", "512", "--verbose"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output == Data(repeating: 7, count: 512))
        #expect(server.requests.allSatisfy { $0.authorization == "Bearer SECRET-TOKEN" })
        #expect(!result.error.contains("SECRET"))
    }

    @Test func versionAndHelp() async throws {
        let version = try await LazyDiskRun.run(["--version"])
        #expect(version.status == 0)
        #expect(!version.output.isEmpty)
        let help = String(decoding: try await LazyDiskRun.run(["--help"]).output, as: UTF8.self)
        #expect(help.contains("info") && help.contains("cat"))
    }

    /// A command's help names only the options that do something for it.
    @Test func helpShowsOnlyOptionsThatApply() async throws {
        let help = { (command: [String]) in String(decoding: try await LazyDiskRun.run(command + ["--help"]).output, as: UTF8.self) }
        for command in [["cache", "list"], ["cache", "status"], ["cache", "prune"], ["cache", "clear"], ["cache", "verify"]] {
            let text = try await help(command)
            #expect(text.contains("--cache <dir>") && !text.contains("--no-cache") && !text.contains("--offline"), "\(command)")
            #expect(!text.contains("--cache-max-size"), "\(command)")
        }
        let pull = try await help(["pull"])
        #expect(pull.contains("--cache-max-size") && !pull.contains("--no-cache") && !pull.contains("--offline"))
        let cat = try await help(["cat"])
        #expect(cat.contains("--no-cache") && cat.contains("--offline") && cat.contains("--cache-max-size"))
        #expect(!(try await help(["info"])).contains("--cache"))
    }
}

/// Runs the built `lazydisk` executable and collects what it printed.
struct LazyDiskRun {
    var status: Int32
    var output: Data
    var error: String

    /// The executable sits beside the test bundle in the build's products.
    static let executable = URL(fileURLWithPath: CommandLine.arguments[0])
        .deletingLastPathComponent().appending(path: "lazydisk")

    /// Starts the executable with its standard error in `errorLog` and its
    /// output discarded (or sent to `output`), for tests that stop or kill it.
    static func start(_ arguments: [String], errorLog: URL, output: ChildProcess.Stream = .null) throws -> ChildProcess {
        let errorFile = open(errorLog.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard errorFile >= 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { close(errorFile) }
        return try lazydisk(arguments, cacheHome: errorLog.deletingLastPathComponent(), output: output, error: .descriptor(errorFile))
    }

    /// `lazydisk serve URL` on a unix socket in `work`, with its cache and
    /// log there too, once the socket is there (or after ten seconds).
    static func startServing(_ url: String, in work: TemporaryDirectory, extra: [String] = []) async throws -> (server: ChildProcess, socketPath: String) {
        let socketPath = work.url.appending(path: "nbd.sock").path
        let server = try start(
            ["serve", url, "--socket", socketPath, "--cache", work.url.path] + extra, errorLog: work.url.appending(path: "serve.log"))
        for _ in 0..<3000 where !FileManager.default.fileExists(atPath: socketPath) && server.isRunning {
            try await Task.sleep(for: .milliseconds(20))
        }
        return (server, socketPath)
    }

    /// The executable with its default cache root moved under `cacheHome`, so
    /// a test never reads or leaves entries in the user's own cache.
    private static func lazydisk(
        _ arguments: [String], cacheHome: URL, environment: [String: String] = [:],
        output: ChildProcess.Stream, error: ChildProcess.Stream
    ) throws -> ChildProcess {
        let base = ["XDG_CACHE_HOME": cacheHome.path, "TMPDIR": TestTemporaryRoot.url.path]
        return try ChildProcess(
            executable.path, arguments,
            environment: ProcessInfo.processInfo.environment.merging(base.merging(environment) { $1 }) { $1 },
            output: output, error: error)
    }

    /// Runs another program to completion; returns its exit status.
    static func runTool(_ path: String, _ arguments: [String]) async throws -> Int32 {
        switch try await ChildProcess(path, arguments).wait() {
        case let .exited(status): status
        case let .signaled(signal): 128 + signal
        }
    }

    /// Runs the executable to its end and collects its output, or with
    /// `output` sends it there instead (a full file, a closed descriptor).
    static func run(
        _ arguments: [String], environment: [String: String] = [:], output: ChildProcess.Stream? = nil
    ) async throws -> LazyDiskRun {
        let directory = try TemporaryDirectory()
        let errorLog = directory.url.appending(path: "stderr")
        let pipe = try closeOnExecPipe()
        let process: ChildProcess
        do {
            defer { close(pipe.write) }
            let errorFile = open(errorLog.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard errorFile >= 0 else { throw CocoaError(.fileWriteUnknown) }
            defer { close(errorFile) }
            process = try lazydisk(
                arguments, cacheHome: directory.url, environment: environment,
                output: output ?? .descriptor(pipe.write), error: .descriptor(errorFile))
        } catch {
            close(pipe.read)
            throw error
        }
        // Reading to the end blocks, so it runs off the cooperative pool.
        let outputData = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: FileHandle(fileDescriptor: pipe.read, closeOnDealloc: true).readDataToEndOfFile())
            }
        }
        let status: Int32 = switch await process.wait() {
        case let .exited(status): status
        case let .signaled(signal): 128 + signal
        }
        let errorText = (try? String(contentsOf: errorLog, encoding: .utf8)) ?? ""
        return LazyDiskRun(status: status, output: outputData, error: errorText)
    }
}
