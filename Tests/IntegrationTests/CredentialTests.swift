import Foundation
import HTTPClient
import HTTPTestServers
import Testing

/// Credentials go only where they were given: a redirect to another origin
/// gets none of the user's headers unless the user trusts it, a header
/// cannot smuggle in another, and a URL can stay out of the command line.
@Suite("Credentials stay with their origin")
struct CredentialTests {
    static let content = (0..<(64 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 13) }
    static let secrets = ["--header", "Authorization: Bearer SECRET-TOKEN", "--header", "X-Api-Key: SECRET-KEY", "--format", "raw"]

    @Test func aRedirectToAnotherOriginGetsNoUserHeaders() async throws {
        let target = try await FaultServer.start(content: Self.content)
        let origin = try await FaultServer.start(content: [], fault: .redirectTo(target.base + "/image?sig=SIGNED"))
        let read = try await LazyDiskRun.run(["cat", origin.base + "/image"] + Self.secrets)
        #expect(read.status == 0, "\(read.error)")
        #expect(read.output == Data(Self.content))
        #expect(origin.requests.allSatisfy { $0.authorization == "Bearer SECRET-TOKEN" && $0.headers["x-api-key"] == "SECRET-KEY" })
        #expect(!target.requests.isEmpty)
        #expect(target.requests.allSatisfy { $0.authorization == nil && $0.headers["x-api-key"] == nil }, "\(target.requests)")
    }

    /// Easy handles are reused and keep their options between transfers:
    /// one that has just signed a request sends the next, which carries no
    /// credentials, with neither a signature nor a session token.
    @Test func aReusedHandleSendsNothingOfTheSignedTransferBeforeIt() async throws {
        let server = try await FaultServer.start(content: Self.content)
        var configuration = HTTPClientConfiguration()
        configuration.connections = 1
        let client = CurlClient(configuration: configuration)
        let signing = AWSSigning(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "SECRET", sessionToken: "SESSION-TOKEN", region: "eu-west-1", source: "test")
        let signed = HTTPRequest(method: .get, url: server.base + "/image", byteRange: .span(0...15), credentials: Credentials(awsSigning: signing))
        #expect(try await client.send(signed).status == 206)
        #expect(try await client.send(HTTPRequest(method: .get, url: server.base + "/image", byteRange: .span(16...31))).status == 206)

        let requests = server.requests
        #expect(requests.count == 2)
        #expect(requests.first?.authorization?.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") == true, "\(requests)")
        #expect(requests.first?.headers["x-amz-security-token"] == "SESSION-TOKEN")
        #expect(requests.last?.authorization == nil, "\(requests)")
        #expect(requests.last?.headers["x-amz-security-token"] == nil)
        #expect(requests.last?.headers["x-amz-date"] == nil)
    }

    @Test func locationTrustedSendsThemAlong() async throws {
        let target = try await FaultServer.start(content: Self.content)
        let origin = try await FaultServer.start(content: [], fault: .redirectTo(target.base + "/image"))
        let read = try await LazyDiskRun.run(["cat", origin.base + "/image", "--location-trusted"] + Self.secrets)
        #expect(read.status == 0, "\(read.error)")
        #expect(target.requests.allSatisfy { $0.authorization == "Bearer SECRET-TOKEN" && $0.headers["x-api-key"] == "SECRET-KEY" })
    }

    @Test func aRedirectWithinTheOriginKeepsThem() async throws {
        let server = try await FaultServer.start(content: Self.content, fault: .redirectChain(hops: 2))
        let read = try await LazyDiskRun.run(["cat", server.base + "/image"] + Self.secrets)
        #expect(read.status == 0, "\(read.error)")
        #expect(server.requests.allSatisfy { $0.authorization == "Bearer SECRET-TOKEN" })
    }

    @Test func headersWithLineBreaksAreRefused() async throws {
        let server = try await FaultServer.start(content: Self.content)
        for header in ["X-A: b\r\nInjected: c", "X-A: b\nInjected: c", "X-A: b\rc"] {
            let result = try await LazyDiskRun.run(["info", server.url, "--header", header])
            #expect(result.status != 0)
            #expect(result.error.split(separator: "\n").count == 1 && result.error.hasPrefix("Error: "), "\(result.error)")
        }
        #expect(server.requests.isEmpty)
    }

    @Test func theURLCanComeFromAFileOrTheEnvironment() async throws {
        let server = try await FaultServer.start(content: Self.content)
        let directory = try TemporaryDirectory()
        let urlFile = directory.url.appending(path: "url")
        try Data((server.url + "\n").utf8).write(to: urlFile)
        let fromFile = try await LazyDiskRun.run(["cat", "--url-file", urlFile.path, "--format", "raw"])
        #expect(fromFile.status == 0, "\(fromFile.error)")
        #expect(fromFile.output == Data(Self.content))
        let fromEnvironment = try await LazyDiskRun.run(["cat", "--format", "raw"], environment: ["LAZYDISK_URL": server.url])
        #expect(fromEnvironment.output == Data(Self.content))
        let both = try await LazyDiskRun.run(["cat", server.url, "--url-file", urlFile.path])
        #expect(both.status != 0 && both.error.contains("give the URL one way"), "\(both.error)")
        let none = try await LazyDiskRun.run(["cat"], environment: ["LAZYDISK_URL": ""])
        #expect(none.status != 0 && none.error.contains("LAZYDISK_URL"), "\(none.error)")
        #expect(!(fromFile.error + fromEnvironment.error + both.error).contains("SECRET"))
    }

    @Test func contentCodingsAreRefusedNotServed() async throws {
        let server = try await FaultServer.start(content: Self.content, fault: .contentEncoding("gzip"))
        let result = try await LazyDiskRun.run(["cat", server.url, "--format", "raw"])
        #expect(result.status != 0)
        #expect(result.output.isEmpty)
        #expect(result.error.contains("Content-Encoding 'gzip'") && !result.error.contains("SECRET"), "\(result.error)")
        #expect(server.requests.allSatisfy { $0.headers["accept-encoding"] == "identity" })
    }
}
