@testable import Fetching
import Testing

@Suite("Link estimate")
struct LinkEstimateTests {
    static let bounds: ClosedRange<UInt64> = (8 << 20)...(64 << 20)

    @Test func withoutARateTheSmallestRequestIsAskedFor() {
        var link = LinkEstimate(latency: .milliseconds(30))
        #expect(link.requestBytes(within: Self.bounds) == 8 << 20)
        // Small requests tell the latency, not the rate.
        link.record(bytes: 4096, duration: .milliseconds(40))
        #expect(link.connectionRate == nil)
        #expect(abs(link.latency - 0.0325) < 1e-9)
    }

    /// An object store: 30 ms, 100 MB/s a connection, asks for about 27 MB;
    /// loopback, fast and near, for the smallest; a far fast link is capped.
    @Test func theSizeFollowsLatencyTimesRate() {
        var store = LinkEstimate(latency: .milliseconds(30))
        store.record(bytes: 10_000_000, duration: .milliseconds(130))
        #expect(store.connectionRate == 100_000_000)
        #expect(store.requestBytes(within: Self.bounds) == 27_000_000)

        var loopback = LinkEstimate(latency: .microseconds(200))
        loopback.record(bytes: 8 << 20, duration: .milliseconds(10))
        #expect(loopback.requestBytes(within: Self.bounds) == 8 << 20)

        var far = LinkEstimate(latency: .milliseconds(100))
        far.record(bytes: 64 << 20, duration: .milliseconds(200))
        #expect(far.requestBytes(within: Self.bounds) == 64 << 20)
    }

    /// A large request that beat the latency estimate lowers it and tells no rate.
    @Test func aRequestFasterThanTheLatencyLowersIt() {
        var link = LinkEstimate(latency: .milliseconds(50))
        link.record(bytes: 4 << 20, duration: .milliseconds(20))
        #expect(abs(link.latency - 0.02) < 1e-9)
        #expect(link.connectionRate == nil)
    }

    /// Later samples move the rate a quarter of the way each.
    @Test func theRateFollowsTheLinkGradually() {
        var link = LinkEstimate(latency: .zero)
        link.record(bytes: 100_000_000, duration: .seconds(1))
        link.record(bytes: 200_000_000, duration: .seconds(1))
        #expect(link.connectionRate == 125_000_000)
    }
}
