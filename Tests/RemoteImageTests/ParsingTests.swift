import Foundation
@testable import HTTPClient
import ImageModel
@testable import RemoteImage
import Testing

@Suite("Header parsing")
struct ParsingTests {
    @Test func contentRange() {
        #expect(ContentRange("bytes 0-0/65536") == ContentRange(range: 0...0, total: 65536))
        #expect(ContentRange("bytes 100-199/*") == ContentRange(range: 100...199, total: nil))
        #expect(ContentRange("bytes */1000") == ContentRange(range: nil, total: 1000))
        #expect(ContentRange(" \tbytes 1-2/3\t") == ContentRange(range: 1...2, total: 3))
        for bad in [nil, "", "bytes 5-4/10", "items 0-1/2", "bytes 0-1", "bytes a-b/c", "bytes 0-1/2/3", "bytes +0-1/2", "bytes 0- 1/2", "bytes -/2"] {
            #expect(ContentRange(bad) == nil, "\(String(describing: bad))")
        }
    }

    @Test func retryAfter() {
        #expect(RetryPolicy.retryAfter("3") == .seconds(3))
        #expect(RetryPolicy.retryAfter(" 0 ") == .seconds(0))
        #expect(RetryPolicy.retryAfter("Wed, 21 Oct 2015 07:28:10 GMT", now: 1_445_412_480) == .seconds(10))
        #expect(RetryPolicy.retryAfter("soon") == nil)
        #expect(RetryPolicy.retryAfter(nil) == nil)
    }

    @Test func backoffGrowsWithJitterAndIsCapped() {
        var policy = RetryPolicy()
        policy.initialDelay = .milliseconds(100)
        policy.maximumDelay = .seconds(1)
        for _ in 0..<100 {
            let first = policy.delay(beforeRetry: 1, retryAfter: nil)
            #expect(first >= .milliseconds(50) && first <= .milliseconds(100))
            let third = policy.delay(beforeRetry: 3, retryAfter: nil)
            #expect(third >= .milliseconds(200) && third <= .milliseconds(400))
            #expect(policy.delay(beforeRetry: 40, retryAfter: nil) <= .seconds(1))
        }
        #expect(policy.delay(beforeRetry: 1, retryAfter: .seconds(7)) == .seconds(7))
    }

    @Test func retriesStopAtTheirCountOrWhenAnotherCouldNotEndInTime() {
        let policy = RetryPolicy(retries: 3, maximumTime: .seconds(60))
        let stall = Duration.seconds(20)
        #expect(policy.giveUp(afterAttempt: 1, elapsed: .seconds(20), delay: .milliseconds(100), attemptTime: stall) == nil)
        #expect(policy.giveUp(afterAttempt: 2, elapsed: .seconds(40), delay: .milliseconds(100), attemptTime: stall) == .timeSpent(.seconds(60)))
        #expect(policy.giveUp(afterAttempt: 4, elapsed: .zero, delay: .zero, attemptTime: .zero) == .retriesUsed)
        // A Retry-After is honoured only inside the time.
        #expect(policy.giveUp(afterAttempt: 1, elapsed: .seconds(1), delay: .seconds(7200), attemptTime: stall) == .timeSpent(.seconds(60)))
        #expect(policy.giveUp(afterAttempt: 1, elapsed: .seconds(1), delay: .seconds(30), attemptTime: stall) == nil)
    }

    @Test func headerLines() {
        #expect(HTTPHeader(line: "Authorization: Bearer abc:def") == HTTPHeader(name: "Authorization", value: "Bearer abc:def"))
        #expect(HTTPHeader(line: "x-ms-version:2020-10-02") == HTTPHeader(name: "x-ms-version", value: "2020-10-02"))
        #expect(HTTPHeader(line: "no colon") == nil)
        #expect(HTTPHeader(line: ": empty name") == nil)
        #expect(HTTPHeader(line: "Bad Name: x") == nil)
        #expect(HTTPHeader(line: "X-A: b\r\nInjected: c") == nil)
        #expect(HTTPHeader(line: "X-A: b\u{0}c") == nil)
        #expect(HTTPHeader(line: "X-A: b\rc") == nil)
        #expect(HTTPHeader(line: "Caf\u{E9}: x") == nil)
        #expect(HTTPHeader(line: " \tETag:\t\"r\u{E9}sum\u{E9}\" \r\n") == HTTPHeader(name: "ETag", value: "\"r\u{E9}sum\u{E9}\""))
        #expect(HTTPHeader(line: "Empty:  \r\n") == HTTPHeader(name: "Empty", value: ""))
    }

    /// A response's header lines as curl hands them over, looked up when
    /// asked: in any case, the last of a repeated field wins, lines that do
    /// not parse are skipped, and an interim response's lines are forgotten.
    @Test func responseHeaderFields() {
        var fields = HTTPHeaderFields()
        func receive(_ lines: [String]) {
            for line in lines {
                Array(line.utf8).withUnsafeBytes { fields.append(line: $0) }
            }
        }
        receive(["X-Interim: 1\r\n", "\r\n"])
        fields.removeAll()
        receive([
            "Content-Range: bytes 0-1/2\r\n", "ETag: \"a\"\r\n", "etag: \"b\"\r\n", "Bad Name: x\r\n", "no colon\r\n",
            "Last-Modified:\tnow \r\n", "Last: later\r\n", "\r\n",
        ])
        #expect(fields["content-range"] == "bytes 0-1/2")
        #expect(fields["CONTENT-RANGE"] == "bytes 0-1/2")
        #expect(fields["etag"] == "\"b\"")
        #expect(fields["last-modified"] == "now")
        #expect(fields["x-interim"] == nil)
        #expect(fields["bad name"] == nil)
        #expect(fields["content"] == nil)
        #expect(fields["last"] == "later")

        let response = HTTPResponse(status: 206, headers: fields, body: [], bodyWasCut: false, httpVersion: "1.1")
        #expect(response.contentRange == ContentRange(range: 0...1, total: 2))
        #expect(!response.header("ETAG", differsFrom: "\"b\""))
        #expect(response.header("etag", differsFrom: "\"a\""))
        #expect(response.header("etag", differsFrom: "\"b"))
        #expect(!response.header("x-interim", differsFrom: "1"), "a field that is not there differs from nothing")
    }

    @Test func strongAndWeakETags() {
        let strong = RemoteIdentity(url: "u", size: 1, etag: "\"abc\"", lastModified: "Mon, 01 Jan 2024 00:00:00 GMT")
        #expect(strong.readPrecondition == HTTPHeader(name: "If-Match", value: "\"abc\""))
        let weak = RemoteIdentity(url: "u", size: 1, etag: "W/\"abc\"", lastModified: "Mon, 01 Jan 2024 00:00:00 GMT")
        #expect(weak.readPrecondition == HTTPHeader(name: "If-Unmodified-Since", value: "Mon, 01 Jan 2024 00:00:00 GMT"))
        #expect(RemoteIdentity(url: "u", size: 1, etag: nil, lastModified: nil).readPrecondition == nil)
    }
}
