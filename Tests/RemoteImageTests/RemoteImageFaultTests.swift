import Fetching
import HTTPClient
import HTTPTestServers
import ImageModel
import RemoteImage
import Synchronization
import Testing

/// Each fault the in-process server can produce, with the outcome and, from
/// the server's log, how many requests the client made.
@Suite("Remote image against a misbehaving server")
struct RemoteImageFaultTests {
    static let content = testBytes(count: 64 * 1024)
    static let readRange: Range<UInt64> = 4096..<12288
    static let wanted = "bytes=4096-12287"

    private func server(_ fault: FaultServer.Fault) async throws -> FaultServer {
        try await FaultServer.start(content: Self.content, fault: fault)
    }

    private func expectRedacted(_ error: any Error) {
        #expect(!"\(error)".contains("SECRET"), "\(error)")
    }

    @Test func wellBehavedServer() async throws {
        let server = try await server(.none)
        let image = try await openImage(server.url)
        #expect(image.identity.size == UInt64(Self.content.count))
        #expect(image.identity.etag == "\"object-1\"")
        #expect(try await image.read(Self.readRange) == Array(Self.content[4096..<12288]))
        let requests = server.requests
        // HEAD and the probe's GET go out together, in no set order.
        #expect(Set(requests.prefix(2).map { "\($0.method) \($0.range ?? "")" }) == ["HEAD ", "GET bytes=0-0"])
        #expect(requests.last?.range == Self.wanted)
        #expect(requests.count == 3)
        #expect(requests.last?.ifMatch == "\"object-1\"")
    }

    /// A server that answers the probe with the whole object opens as one
    /// that does not serve ranges: its first bytes are kept, the rest of
    /// the probe's transfer is cut, and the object is read by one download.
    @Test func serverIgnoringRangeOpensForOneDownload() async throws {
        let server = try await server(.ignoresRange)
        let image = try await openImage(server.url)
        #expect(!image.servesRanges)
        #expect(image.leadingBytes == Array(Self.content.prefix(512)))
        #expect(server.requests.map(\.method).sorted() == ["GET", "HEAD"])
        let gathered = GatheredBytes()
        #expect(try await image.download(into: gathered) == UInt64(Self.content.count))
        #expect(gathered.bytes == Self.content)
        #expect(server.requests.map(\.range).dropFirst(2) == [nil])
    }

    /// The one download of such a server must still be the object opened:
    /// a new ETag is "the remote image changed", and none of the new
    /// object's bytes reach the sink.
    @Test func aChangedObjectIsNotDownloaded() async throws {
        let server = try await server(.ignoresRange)
        let image = try await openImage(server.url)
        server.replaceContent(Self.content.map { $0 ^ 0xFF })
        let gathered = GatheredBytes()
        await #expect {
            try await image.download(into: gathered)
        } throws: { error in
            guard case let RemoteImageError.imageChanged(_, reason) = error else { return false }
            return reason.contains("ETag")
        }
        #expect(gathered.bytes.isEmpty)
    }

    @Test func wrongContentRangeIsNeverAccepted() async throws {
        let server = try await server(.wrongContentRange)
        await #expect {
            try await openImage(server.url)
        } throws: { error in
            expectRedacted(error)
            guard case .malformedResponse = error as? RemoteImageError else { return false }
            return true
        }
        #expect(server.requests.count == 2)
    }

    @Test func shortBodyIsRetried() async throws {
        let server = try await server(.shortBody(times: 1))
        let image = try await openImage(server.url)
        #expect(try await image.read(Self.readRange) == Array(Self.content[Self.readRange.asInts]))
        #expect(server.requests.filter { $0.range == Self.wanted }.count == 2)
    }

    @Test func disconnectMidBodyIsRetried() async throws {
        let server = try await server(.disconnectMidBody(times: 2))
        let image = try await openImage(server.url)
        #expect(try await image.read(Self.readRange) == Array(Self.content[Self.readRange.asInts]))
        // The cut body, then one byte where it was cut and the range's last
        // (is the object the same? the fault cuts that too), then the whole
        // range again.
        let ranges = server.requests.compactMap(\.range).filter { $0 != "bytes=0-0" }
        #expect(ranges.count == 4 && ranges.first == Self.wanted && ranges.last == Self.wanted, "\(ranges)")
        let checks = ranges.dropFirst().prefix(2).map { $0.dropFirst("bytes=".count).split(separator: "-") }
        #expect(checks.allSatisfy { $0.count == 2 && $0[0] == $0[1] }, "\(ranges)")
        #expect(checks.last?.first == "\(Self.readRange.upperBound - 1)", "\(ranges)")
    }

    @Test func serverErrorThenSuccess() async throws {
        let server = try await server(.serverError(times: 2))
        let image = try await openImage(server.url)
        #expect(try await image.read(Self.readRange) == Array(Self.content[Self.readRange.asInts]))
        #expect(server.requests.filter { $0.range == Self.wanted }.map(\.status) == [500, 500, 206])
    }

    @Test func retriesAreBounded() async throws {
        let server = try await server(.serverError(times: 100))
        let image = try await openImage(server.url, retries: 2)
        await #expect {
            try await image.read(Self.readRange)
        } throws: { error in
            expectRedacted(error)
            guard case let RemoteImageError.retriesExhausted(attempts, last) = error,
                  case let .httpStatus(_, status) = last else { return false }
            return attempts == 3 && status == 500
        }
        #expect(server.requests.filter { $0.range == Self.wanted }.count == 3)
    }

    @Test func tooManyRequestsHonoursRetryAfter() async throws {
        let server = try await server(.tooManyRequests(times: 1, retryAfterSeconds: 1))
        let image = try await openImage(server.url)
        let clock = ContinuousClock()
        let started = clock.now
        #expect(try await image.read(Self.readRange) == Array(Self.content[Self.readRange.asInts]))
        #expect(clock.now - started >= .milliseconds(950))
        #expect(server.requests.filter { $0.range == Self.wanted }.map(\.status) == [429, 206])
    }

    /// The probe's GET goes out beside HEAD, with no precondition: an
    /// object that is not the one HEAD described is a changed image.
    @Test func anObjectThatChangedBetweenHeadAndTheProbeIsAChangedImage() async throws {
        let server = try await server(.headETag("\"object-0\""))
        await #expect {
            try await openImage(server.url)
        } throws: { error in
            guard case let RemoteImageError.imageChanged(_, reason) = error else { return false }
            return reason.contains("ETag \"object-0\" -> \"object-1\"")
        }
        #expect(server.requests.count == 2)
    }

    @Test func changedETagIsAChangedImage() async throws {
        let server = try await server(.none)
        let image = try await openImage(server.url)
        server.replaceContent(testBytes(count: Self.content.count, seed: 7))
        await #expect {
            try await image.read(Self.readRange)
        } throws: { error in
            expectRedacted(error)
            guard case let RemoteImageError.imageChanged(_, reason) = error else { return false }
            return reason.contains("412")
        }
        #expect(server.requests.last?.status == 412)
        #expect(server.requests.count == 3)
    }

    @Test func tricklingBodyHitsTheLowSpeedTimeout() async throws {
        let server = try await server(.trickle)
        let image = try await openImage(server.url, retries: 1) { configuration in
            configuration.lowSpeedTimeout = .seconds(1)
        }
        await #expect {
            try await image.read(Self.readRange)
        } throws: { error in
            expectRedacted(error)
            guard case let RemoteImageError.retriesExhausted(attempts, .transport(_, curlError)) = error else { return false }
            return attempts == 2 && curlError.isTimeout
        }
        #expect(server.requests.filter { $0.range == Self.wanted }.count == 2)
    }

    @Test func refusedHeadFallsBackToARangeRead() async throws {
        let server = try await server(.refusesHead)
        let image = try await openImage(server.url)
        #expect(image.identity.size == UInt64(Self.content.count))
        #expect(image.identity.etag == "\"object-1\"")
        #expect(try await image.read(Self.readRange) == Array(Self.content[Self.readRange.asInts]))
        // The refused HEAD and the probe's GET go out together.
        #expect(server.requests.prefix(2).map(\.status).sorted() == [206, 403])
        #expect(server.requests.dropFirst(2).map(\.status) == [206])
    }

    @Test func redirectChainIsFollowedOnceAndPinned() async throws {
        let server = try await server(.redirectChain(hops: 3))
        let image = try await openImage(server.url)
        for _ in 0..<3 {
            #expect(try await image.read(Self.readRange) == Array(Self.content[Self.readRange.asInts]))
        }
        let uris = server.requests.map(\.uri)
        // HEAD follows the chain; the probe's GET, sent beside it, stops at
        // the first redirect and is asked again where HEAD led.
        #expect(uris.filter { $0.hasPrefix("/image") }.count == 2)
        #expect(uris.filter { $0 == "/hop3" }.count == 1)
        #expect(server.requests.filter { $0.range == Self.wanted }.allSatisfy { $0.uri == "/final" })
        #expect(!image.pinnedURLDescription.contains("SECRET"))
    }

    @Test func expiredPinnedURLIsReopenedFromTheOriginal() async throws {
        let server = try await server(.expiringLinks)
        let image = try await openImage(server.url)
        server.expireLinks()
        #expect(try await image.read(Self.readRange) == Array(Self.content[Self.readRange.asInts]))
        let reads = server.requests.filter { $0.range == Self.wanted }
        // Each open is given two links (one to HEAD, one to the probe's GET
        // sent beside it, in either order): reads go where HEAD led, at the
        // open and then at the open again.
        let ledByHead = server.requests.filter { $0.method == "HEAD" && $0.uri.hasPrefix("/signed") }.map(\.uri)
        #expect(ledByHead.count == 2)
        #expect(reads.map(\.uri) == ledByHead)
        #expect(reads.map(\.status) == [403, 206])
    }

    @Test func reopeningAChangedImageIsAnError() async throws {
        let server = try await server(.expiringLinks)
        let image = try await openImage(server.url)
        server.expireLinks()
        server.replaceContent(testBytes(count: 1000))
        await #expect {
            try await image.read(Self.readRange)
        } throws: { error in
            expectRedacted(error)
            guard case let RemoteImageError.imageChanged(_, reason) = error else { return false }
            return reason.contains("size 65536 -> 1000")
        }
    }

    @Test func connectionRefusedIsATransportError() async throws {
        let server = try await server(.none)
        let url = server.url
        try await server.shutdown()
        await #expect {
            try await openImage(url, retries: 1)
        } throws: { error in
            expectRedacted(error)
            guard case let RemoteImageError.retriesExhausted(2, .transport(_, curlError)) = error else { return false }
            return curlError.isTransient
        }
    }

    @Test func missingImageIsA404() async throws {
        let server = try await server(.none)
        await #expect {
            try await openImage(server.base + "/missing?token=SECRET")
        } throws: { error in
            expectRedacted(error)
            guard case RemoteImageError.httpStatus(_, 404) = error else { return false }
            return "\(error)".contains("404 Not Found")
        }
        // HEAD and the probe's GET went out together; neither was retried.
        #expect(server.requests.map(\.method).sorted() == ["GET", "HEAD"])
    }
}

extension Range<UInt64> {
    var asInts: Range<Int> { Int(lowerBound)..<Int(upperBound) }
}

@Suite("Request headers")
struct RequestHeaderTests {
    @Test func configuredHeadersReachTheServer() async throws {
        let server = try await FaultServer.start(content: testBytes(count: 4096))
        let image = try await openImage(
            server.url, credentials: .fixed(Credentials(headers: [HTTPHeader(name: "Authorization", value: "Bearer SECRET-TOKEN")])))
        _ = try await image.read(0..<512)
        #expect(server.requests.allSatisfy { $0.authorization == "Bearer SECRET-TOKEN" })
    }
}

/// A sink that keeps what it is given at its offsets, in memory.
final class GatheredBytes: FetchSink {
    private let gathered = Mutex<[UInt8]>([])

    var bytes: [UInt8] { gathered.withLock { $0 } }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        gathered.withLock { gathered in
            let end = Int(offset) + bytes.count
            if gathered.count < end {
                gathered += [UInt8](repeating: 0, count: end - gathered.count)
            }
            gathered.replaceSubrange(Int(offset)..<end, with: bytes)
        }
    }
}
