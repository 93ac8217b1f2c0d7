import Fetching
import Foundation
import HTTPClient
import HTTPTestServers
import ImageModel
import LayeredDisk
import RemoteImage
import Testing

/// The HTTP range layer against the real nginx the Docker recipe ships.
@Suite("Remote images served by nginx")
struct NginxRemoteImageTests {
    @Test func fixtureReadsThroughTheStack() async throws {
        let nginx = try NginxServer(root: NginxServer.repositoryRoot.appending(path: "fixtures"))
        let layer = try await HTTPRangeLayer.open(RemoteImage.open(try ImageURL(nginx.url("hello.img?sig=SECRET")), client: CurlClient()))
        let disk = try await LayeredDisk(readOnly: true, layers: [LayerConfiguration(layer)])
        let fixture = try Data(contentsOf: NginxServer.repositoryRoot.appending(path: "fixtures/hello.img"))
        #expect(Data(try await disk.read(at: 0, count: Int(disk.sectorCount))) == fixture)
        #expect(layer.image.httpVersion == "1.1")
        #expect(layer.image.advertisesRanges)
        #expect(layer.image.identity.etag != nil)
    }

    /// Reading a 256 MiB image through the layer returns exactly the file's
    /// bytes, in few requests.
    @Test func largeImageReadsBackExactly() async throws {
        let root = try TemporaryDirectory()
        let image = root.url.appending(path: "big.img")
        let size = 256 << 20
        try randomFile(at: image, size: size)
        let nginx = try NginxServer(root: root.url)
        let layer = try await HTTPRangeLayer.open(RemoteImage.open(try ImageURL(nginx.url("big.img")), client: CurlClient()))
        let disk = try await LayeredDisk(readOnly: true, layers: [LayerConfiguration(layer)])

        let file = try FileHandle(forReadingFrom: image)
        let step = 32 << 20
        for offset in stride(from: 0, to: size, by: step) {
            let read = try await disk.read(at: UInt64(offset / 512), count: step / 512)
            let expected = try file.read(upToCount: step)
            #expect(Data(read) == expected, "bytes \(offset)..<\(offset + step)")
        }
        let gets = nginx.accessLog.filter { $0.hasPrefix("GET /big.img") }
        #expect(gets.allSatisfy { $0.contains(" 206 ") })
        // The reads, the probe, and the looks for a qcow2 header and a VHD footer.
        #expect(gets.count <= size / Int(FetchPolicy().foregroundRequestLimit) + 3)
    }

    @Test func tlsWithTheServersCertificateSpeaksHTTP2() async throws {
        let nginx = try NginxServer(root: NginxServer.repositoryRoot.appending(path: "fixtures"), tls: true)
        let image = try await openImage(nginx.httpsURL("hello.img")) { $0.caCertificatesFile = nginx.certificateFile.path }
        #expect(image.httpVersion == "2")
        #expect(try await image.read(0..<8) == Array("lazydisk".utf8))
    }

    @Test func tlsVerificationIsOnByDefault() async throws {
        let nginx = try NginxServer(root: NginxServer.repositoryRoot.appending(path: "fixtures"), tls: true)
        await #expect {
            try await openImage(nginx.httpsURL("hello.img"))
        } throws: { error in
            guard case let RemoteImageError.transport(_, curlError) = error else { return false }
            return !curlError.isTransient
        }
        let insecure = try await openImage(nginx.httpsURL("hello.img")) { $0.verifiesTLS = false }
        #expect(insecure.identity.size == 65536)
    }

    @Test func redirectFromHTTPSToPlainHTTPIsRefused() async throws {
        let nginx = try NginxServer(root: NginxServer.repositoryRoot.appending(path: "fixtures"), tls: true)
        await #expect {
            try await openImage(nginx.httpsURL("to-plain-http?token=SECRET")) { $0.caCertificatesFile = nginx.certificateFile.path }
        } throws: { error in
            guard case RemoteImageError.redirectRefused = error else { return false }
            return !"\(error)".contains("SECRET")
        }
        #expect(!nginx.accessLog.contains { $0.contains("/hello.img") })
    }
}

func openImage(_ url: String, configure: (inout HTTPClientConfiguration) -> Void = { _ in }) async throws -> RemoteImage {
    var configuration = HTTPClientConfiguration()
    configure(&configuration)
    var retries = RetryPolicy(retries: 1)
    retries.initialDelay = .milliseconds(10)
    return try await RemoteImage.open(try ImageURL(url), client: CurlClient(configuration: configuration), retryPolicy: retries)
}

/// Fills a file with `size` random bytes from the kernel.
func randomFile(at url: URL, size: Int) throws {
    let random = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
    guard FileManager.default.createFile(atPath: url.path, contents: nil) else { throw CocoaError(.fileWriteUnknown) }
    let output = try FileHandle(forWritingTo: url)
    var written = 0
    while written < size {
        let chunk = try random.read(upToCount: min(8 << 20, size - written)) ?? Data()
        try output.write(contentsOf: chunk)
        written += chunk.count
    }
    try output.close()
}
