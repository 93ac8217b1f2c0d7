import Foundation
@testable import HTTPClient
import ImageModel
@testable import RemoteImage
import Testing

/// Values a server or a user can send, at the edges of 32 and 64 bits: every
/// parser answers or refuses, and none traps.
@Suite("Parsers at the edges of their integers")
struct EdgeValueTests {
    static let edges: [UInt64] = [0, 1, 511, 512, 1 << 31, (1 << 32) - 1, 1 << 32, (1 << 32) + 1,
                                  (1 << 60) - 1, 1 << 60, (1 << 63) - 1, 1 << 63, (1 << 63) + 1, .max - 1, .max]
    static let texts = edges.map(String.init) + ["18446744073709551616", "99999999999999999999999", "-1", "-0", "+5", " 5", "1e3"]

    @Test func contentRangesAcceptExactlyWhatTheySay() {
        for first in Self.edges {
            for last in Self.edges {
                for total in Self.edges {
                    let parsed = ContentRange("bytes \(first)-\(last)/\(total)")
                    if first <= last {
                        #expect(parsed == ContentRange(range: first...last, total: total))
                    } else {
                        #expect(parsed == nil)
                    }
                }
            }
        }
        for text in Self.texts {
            let parsed = ContentRange("bytes 0-\(text)/\(text)")
            #expect(parsed == nil || UInt64(text) != nil, "\(text)")
        }
    }

    @Test func retryAfterValuesNeverTrap() {
        for text in Self.texts {
            let delay = RetryPolicy.retryAfter(text, now: 0)
            #expect(delay == nil || delay! >= .zero, "\(text)")
        }
        #expect(RetryPolicy.retryAfter("9223372036854775807") == .seconds(Int.max))
    }

    @Test func anyRetryAfterIsBoundedByTheRetryTime() {
        let policy = RetryPolicy()
        for text in Self.texts {
            guard let delay = RetryPolicy.retryAfter(text, now: 0), delay > policy.maximumTime else { continue }
            #expect(policy.giveUp(afterAttempt: 1, elapsed: .zero, delay: delay, attemptTime: .zero) == .timeSpent(policy.maximumTime))
        }
    }

    @Test func urlsWithEdgePortsAreParsedOrRefused() {
        for text in Self.texts {
            let url = try? ImageURL("http://127.0.0.1:\(text)/image?token=SECRET")
            #expect(url.map { !$0.description.contains("SECRET") } ?? true)
            #expect(Origin("http://127.0.0.1:\(text)/image").map { $0.port >= 0 } ?? true)
        }
    }

    @Test func originsTellHostsPortsAndSchemesApart() {
        #expect(Origin("http://example.com/a") == Origin("HTTP://EXAMPLE.com:80/b?x"))
        #expect(Origin("https://example.com/a") == Origin("https://example.com:443/"))
        #expect(Origin("http://example.com/a") != Origin("https://example.com/a"))
        #expect(Origin("http://example.com/a") != Origin("http://example.com:8080/a"))
        #expect(Origin("http://example.com/a") != Origin("http://example.com.evil.test/a"))
        #expect(Origin("ftp://example.com/a") == nil)
    }
}
