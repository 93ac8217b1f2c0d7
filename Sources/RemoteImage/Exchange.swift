import CCurl
import Logging

/// The HTTP rules for talking to an image's origin: how to probe it, how to
/// read a range, which answers to accept, and what to retry.
struct Exchange: Sendable {
    let client: CurlClient
    let retryPolicy: RetryPolicy
    let logger: Logger

    /// HEAD for size and validators (a one-byte GET where HEAD is refused),
    /// then a one-byte range GET to prove the server honours ranges.
    func probe(_ url: ImageURL) async throws -> Probe {
        let display = url.description
        let head = try await retrying(display) {
            try await send(HTTPRequest(method: .head, url: url.absoluteString, followRedirects: true), display: display)
        }
        let headRefused = [403, 405, 501].contains(head.status)
        guard headRefused || (200..<300).contains(head.status) else {
            throw RemoteImageError.httpStatus(url: display, status: head.status)
        }
        let headIdentity = headRefused ? nil : identity(of: head, url: url)

        let clock = ContinuousClock()
        let started = clock.now
        let probeURL = headRefused ? url.absoluteString : head.effectiveURL
        let probe = try await retrying(display) {
            try await send(
                HTTPRequest(method: .get, url: probeURL, byteRange: 0...0,
                            headers: headIdentity?.readPrecondition.map { [$0] } ?? [], followRedirects: headRefused),
                display: display
            )
        }
        let duration = clock.now - started
        switch probe.status {
        case 206:
            break
        case 200:
            throw RemoteImageError.rangesNotSupported(
                url: display, answer: "it answered 200 OK with the whole object to Range: bytes=0-0")
        case 416:
            throw RemoteImageError.malformedResponse(url: display, reason: "the image is empty (416 to Range: bytes=0-0)")
        default:
            throw RemoteImageError.httpStatus(url: display, status: probe.status)
        }
        guard let contentRange = ContentRange(probe[header: "content-range"]), contentRange.range == 0...0,
              let total = contentRange.total
        else {
            throw RemoteImageError.malformedResponse(
                url: display, reason: "206 with Content-Range '\(probe[header: "content-range"] ?? "missing")' to Range: bytes=0-0")
        }
        var identity = headIdentity ?? RemoteIdentity(
            url: url.withoutQuery, size: total,
            etag: probe[header: "etag"], lastModified: probe[header: "last-modified"])
        if identity.size != total {
            throw RemoteImageError.imageChanged(url: display, reason: "HEAD said \(identity.size) bytes, a range read says \(total)")
        }
        identity.size = total
        return Probe(
            identity: identity,
            finalURL: probe.effectiveURL,
            httpVersion: probe.httpVersion,
            duration: duration,
            advertisesRanges: (headRefused ? probe : head)[header: "accept-ranges"]?.lowercased() == "bytes"
        )
    }

    /// One single-range GET of `range` on `url`, retried while transient; only
    /// an exact 206 of the unchanged object is accepted.
    func read(_ range: Range<UInt64>, from url: String, identity: RemoteIdentity, display: ImageURL) async throws -> [UInt8] {
        let display = display.description
        let wanted = range.lowerBound...(range.upperBound - 1)
        let request = HTTPRequest(method: .get, url: url, byteRange: wanted, headers: identity.readPrecondition.map { [$0] } ?? [])
        return try await retrying(display) {
            let response = try await send(request, display: display)
            switch response.status {
            case 206:
                return try accept(response, for: wanted, identity: identity, display: display)
            case 200:
                throw RemoteImageError.imageChanged(
                    url: display, reason: "the server answered 200 OK with the whole object to a range request")
            case 412:
                throw RemoteImageError.imageChanged(url: display, reason: "412 Precondition Failed: its validators no longer match")
            case 416:
                throw RemoteImageError.imageChanged(url: display, reason: "416 Range Not Satisfiable: it is smaller than when opened")
            default:
                throw RemoteImageError.httpStatus(url: display, status: response.status)
            }
        }
    }

    private func accept(
        _ response: HTTPResponse, for wanted: ClosedRange<UInt64>, identity: RemoteIdentity, display: String
    ) throws -> [UInt8] {
        let header = response[header: "content-range"]
        guard let contentRange = ContentRange(header) else {
            throw RemoteImageError.malformedResponse(url: display, reason: "206 without a usable Content-Range ('\(header ?? "missing")')")
        }
        if let total = contentRange.total, total != identity.size {
            throw RemoteImageError.imageChanged(url: display, reason: "size \(identity.size) -> \(total)")
        }
        if let etag = response[header: "etag"], let expected = identity.strongETag, etag != expected {
            throw RemoteImageError.imageChanged(url: display, reason: "ETag \(expected) -> \(etag)")
        }
        guard contentRange.range == wanted else {
            throw RemoteImageError.malformedResponse(
                url: display, reason: "asked for bytes \(wanted.lowerBound)-\(wanted.upperBound), got Content-Range '\(header!)'")
        }
        guard !response.bodyWasCut else {
            throw RemoteImageError.malformedResponse(url: display, reason: "the body is longer than Content-Range says")
        }
        guard response.body.count == wanted.count else {
            throw RetryableFailure(error: .malformedResponse(
                url: display, reason: "body cut short: \(response.body.count) of \(wanted.count) bytes"))
        }
        return response.body
    }

    private func identity(of head: HTTPResponse, url: ImageURL) -> RemoteIdentity? {
        guard let length = head[header: "content-length"].flatMap({ UInt64($0) }) else { return nil }
        return RemoteIdentity(url: url.withoutQuery, size: length, etag: head[header: "etag"], lastModified: head[header: "last-modified"])
    }

    /// Sends a request; a transport failure or a 429/5xx answer becomes a
    /// ``RetryableFailure`` when it is worth another try.
    private func send(_ request: HTTPRequest, display: String) async throws -> HTTPResponse {
        let response: HTTPResponse
        do {
            response = try await client.send(request)
        } catch let error as CurlError {
            let failure = classify(error, display: display)
            throw error.isTransient ? RetryableFailure(error: failure) : failure
        }
        if response.status == 429 || (500...599).contains(response.status) {
            throw RetryableFailure(
                error: .httpStatus(url: display, status: response.status),
                retryAfter: RetryPolicy.retryAfter(response[header: "retry-after"]))
        }
        return response
    }

    private func classify(_ error: CurlError, display: String) -> RemoteImageError {
        switch error.code {
        case Int(CURLE_UNSUPPORTED_PROTOCOL.rawValue):
            .redirectRefused(url: display, reason: "it leads from https to plain http (\(error))")
        case Int(CURLE_TOO_MANY_REDIRECTS.rawValue):
            .redirectRefused(url: display, reason: "more than 10 redirects")
        default:
            .transport(url: display, error)
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retry budget
    /// is spent, sleeping with backoff (or as `Retry-After` asks) in between.
    private func retrying<Result>(_ display: String, _ attempt: () async throws -> Result) async throws -> Result {
        var attempts = 0
        while true {
            attempts += 1
            do {
                return try await attempt()
            } catch let failure as RetryableFailure {
                guard attempts <= retryPolicy.retries else {
                    throw attempts == 1 ? failure.error : RemoteImageError.retriesExhausted(attempts: attempts, last: failure.error)
                }
                let delay = retryPolicy.delay(beforeRetry: attempts, retryAfter: failure.retryAfter)
                logger.warning("retrying", metadata: ["error": "\(failure.error)", "attempt": "\(attempts)", "delay": "\(delay)"])
                try await Task.sleep(for: delay)
            }
        }
    }
}
