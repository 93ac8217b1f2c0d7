import Foundation
import HTTPTestServers
import ImageModel
import RemoteImage
import Testing

/// The proxy `scripts/bench` puts in front of nginx to look like an object
/// store: a first-byte delay, and a per-connection rate.
@Suite("Delaying proxy")
struct DelayingProxyTests {
    @Test func aConnectionIsPacedToItsRateAndTheBytesArriveWhole() async throws {
        let content = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let server = try await FaultServer.start(content: content)
        let upstream = try #require(Int(server.base.split(separator: ":").last ?? ""))
        let proxy = try await DelayingProxy.start(upstreamPort: upstream, delay: .milliseconds(20), bytesPerSecond: 4_000_000)
        let image = try await openImage("http://127.0.0.1:\(proxy.port)/image")
        let clock = ContinuousClock()
        let started = clock.now
        #expect(try await image.read(0..<(1 << 20)) == content)
        // 1 MiB at 4 MB/s cannot take less than a quarter of a second.
        #expect(clock.now - started >= .milliseconds(262))
        try await proxy.shutdown()
    }
}
