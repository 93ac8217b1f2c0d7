import Foundation
import HTTPTestServers
import Testing

/// Errors name the cause the user can act on, not what a library said
/// further down: an empty object, oversized headers, keys and URLs, and a
/// `cache verify` with nothing to verify.
@Suite("Errors that name their cause")
struct ErrorCauseTests {
    @Test func anEmptyObjectIsNamedEmpty() async throws {
        let work = try TemporaryDirectory()
        try Data().write(to: work.url.appending(path: "empty.img"))
        let nginx = try NginxServer(root: work.url)
        let result = try await LazyDiskRun.run(["info", nginx.url("empty.img")])
        #expect(result.error == "Error: \(nginx.url("empty.img")): the image is empty (0 bytes): there is no disk to serve\n", "\(result.error)")
    }

    @Test func oversizedHeadersAndKeysAreNamedBeforeCurlSeesThem() async throws {
        let nginx = try NginxServer(root: NginxFixtures.directory)
        let work = try TemporaryDirectory()
        // 2,000 headers in 60 KiB from a file, and 8 KiB more from the command line.
        let lines = (0..<2000).map { "X-Filler-\($0): \(String(repeating: "v", count: 15))" }.joined(separator: "\n")
        let headerFile = work.url.appending(path: "headers")
        try Data(lines.utf8).write(to: headerFile)
        let many = try await LazyDiskRun.run(
            ["info", nginx.url("hello.img"), "--header-file", headerFile.path, "--header", "X-Large: \(String(repeating: "v", count: 8 << 10))"])
        #expect(many.status == 1)
        #expect(many.error.contains("the request headers (--header, --header-file, --header-command) take"), "\(many.error.prefix(300))")
        #expect(many.error.contains("lazydisk sends at most 64 KiB"))

        let credentials = work.url.appending(path: "credentials")
        try Data("[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = \(String(repeating: "s", count: 1 << 20))\n".utf8)
            .write(to: credentials)
        let key = try await LazyDiskRun.run(
            ["info", nginx.url("hello.img"), "--aws-sigv4"],
            environment: ["AWS_SHARED_CREDENTIALS_FILE": credentials.path, "AWS_ACCESS_KEY_ID": "", "AWS_PROFILE": ""])
        #expect(key.error == "Error: the AWS secret access key from profile default in \(credentials.path) is \(1 << 20) bytes; lazydisk takes at most 16 KiB\n",
                "\(key.error.prefix(300))")
    }

    @Test func aURLLongerThanAnyServerTakesIsNamedSo() async throws {
        let url = "http://127.0.0.1/" + String(repeating: "a", count: 100 << 10)
        let result = try await LazyDiskRun.run(["info"], environment: ["LAZYDISK_URL": url])
        #expect(result.status == 1)
        #expect(result.error.contains("it is \(url.utf8.count) bytes long; lazydisk takes URLs of at most 64 KiB"), "\(result.error.prefix(300))")
        #expect(result.error.count < 400)
    }

    /// Nothing cached: verify says so and makes no cache.
    @Test func verifyingAnImageWithNoCacheIsAnError() async throws {
        let nginx = try NginxServer(root: NginxFixtures.directory)
        let work = try TemporaryDirectory()
        let root = work.url.appending(path: "cache")
        let result = try await LazyDiskRun.run(["cache", "verify", nginx.url("hello.img"), "--cache", root.path])
        #expect(result.status == 1)
        #expect(result.error == "Error: no cache of \(nginx.url("hello.img")) in \(root.path): nothing to verify\n", "\(result.error)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).isEmpty)
    }
}
