import Foundation
import HTTPClient
import HTTPTestServers
import ImageModel
import RemoteImage

/// Random bytes from a fixed seed, so a failure replays. Generated a word at
/// a time: debug builds are slow at per-byte loops over megabytes.
func testBytes(count: Int, seed: UInt64 = 42) -> [UInt8] {
    var state = seed
    return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        let raw = UnsafeMutableRawBufferPointer(buffer)
        for offset in stride(from: 0, to: count, by: 8) {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            withUnsafeBytes(of: state ^ (state >> 29)) { word in
                let length = min(8, count - offset)
                UnsafeMutableRawBufferPointer(rebasing: raw[offset..<offset + length])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: word[..<length]))
            }
        }
        initialized = count
    }
}

/// A retry policy that keeps tests quick: short backoff, few retries.
func quickRetries(_ retries: Int = 3) -> RetryPolicy {
    var policy = RetryPolicy(retries: retries)
    policy.initialDelay = .milliseconds(10)
    policy.maximumDelay = .milliseconds(50)
    return policy
}

func openImage(
    _ url: String,
    retries: Int = 3,
    credentials: CredentialRefresher = .fixed(),
    configure: (inout HTTPClientConfiguration) -> Void = { _ in },
    reading edges: EdgeReads = EdgeReads()
) async throws -> RemoteImage {
    var configuration = HTTPClientConfiguration()
    configure(&configuration)
    return try await RemoteImage.open(
        try ImageURL(url), client: CurlClient(configuration: configuration), credentials: credentials, retryPolicy: quickRetries(retries),
        reading: edges)
}

extension FaultServer {
    /// The requests so far, as `METHOD URI RANGE -> STATUS` lines.
    var requestLines: [String] { requests.map(\.description) }
}
