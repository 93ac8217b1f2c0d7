import Fetching
import HTTPClient
import ImageModel
import LayeredDisk
import Logging

/// The HTTP rules for talking to an image's origin: how to probe it, how to
/// read a range, which answers to accept, and what to retry.
struct Exchange: Sendable {
    let client: CurlClient
    let retryPolicy: RetryPolicy
    let logger: Logger
    /// What every request to the image's origin carries.
    let credentials: Credentials

    /// HEAD for size and validators (a one-byte GET where HEAD is refused)
    /// and a one-byte range GET to prove the server honours ranges, sent
    /// together, so opening costs one round trip. Redirects are followed
    /// here, hop by hop; the URL that answered is where reads go.
    ///
    /// The early GET goes out before HEAD has answered, so it carries no
    /// precondition: the object it found is checked against HEAD's after.
    /// Where HEAD was redirected, or the early GET met a redirect or a
    /// failure worth retrying, the probe asks again where HEAD led, as one
    /// GET after the HEAD.
    ///
    /// The `edges` go out with them, and are kept if they are bytes of the
    /// object the probe found, at the URL reads go to; a read that failed is
    /// left out, for the caller's own read to meet the failure again.
    func probe(_ url: ImageURL, reading edges: EdgeReads = EdgeReads()) async throws -> Probe {
        let display = url.description
        let start = target(url.absoluteString, for: url)
        async let headAnswer = following(start.request(.head), from: url)
        let early = await earlyAnswers(edges, from: start, display: display)
        let (head, headTarget) = try await headAnswer
        let headRefused = Self.refusesHead(head)
        guard headRefused || (200..<300).contains(head.status) else {
            throw RemoteImageError.refusal(head, url: display)
        }
        let headIdentity = headRefused ? nil : try identity(of: head, url: url)

        let answer: TimedAnswer
        let finalTarget: RequestTarget
        var readAlongside: [Range<UInt64>: [UInt8]] = [:]
        if headTarget == start, let earlyAnswer = early.byteZero {
            (answer, finalTarget) = (earlyAnswer, start)
        } else {
            let rangesAlongside = headIdentity.map { identity in
                Self.advertisesRanges(head) ? edges.ranges(inObjectOf: identity.size) : []
            } ?? []
            async let readLate = readEach(rangesAlongside, from: headTarget, identity: headIdentity, image: url)
            (answer, finalTarget) = try await askAgain(after: head, at: headTarget, from: start, headIdentity: headIdentity, image: url)
            readAlongside = await readLate
        }
        let probe = answer.response
        switch probe.status {
        case 206:
            break
        case 200 where headIdentity?.size == 0 || probe[header: "content-length"] == "0":
            // No byte 0 to send: the whole object is the empty answer.
            throw RemoteImageError.empty(url: display)
        case 200:
            return try wholeObjectProbe(probe, target: finalTarget, headIdentity: headIdentity, url: url, duration: answer.duration)
        case 416:
            throw RemoteImageError.empty(url: display)
        default:
            throw RemoteImageError.refusal(probe, url: display)
        }
        try refuseContentCoding(of: probe, display: display)
        guard let contentRange = probe.contentRange, contentRange.range == 0...0,
              let total = contentRange.total
        else {
            throw RemoteImageError.malformedResponse(
                url: display, reason: "206 with Content-Range '\(probe[header: "content-range"] ?? "missing")' to Range: bytes=0-0")
        }
        let answered = RemoteIdentity(url: url.withoutQuery, size: total, etag: probe[header: "etag"], lastModified: probe[header: "last-modified"])
        let identity = headIdentity ?? answered
        if identity.size != total {
            throw RemoteImageError.imageChanged(url: display, reason: "HEAD said \(identity.size) bytes, a range read says \(total)")
        }
        if !answered.hasValidators(of: identity) {
            throw RemoteImageError.imageChanged(url: display, reason: "between HEAD and a range read: \(answered.changes(from: identity))")
        }
        guard total <= RemoteIdentity.largestSize else {
            throw RemoteImageError.tooLarge(url: display, size: total)
        }
        if finalTarget == start {
            readAlongside.merge(keptEdges(early.edges, identity: identity, display: display)) { kept, _ in kept }
        }
        return Probe(
            identity: identity,
            target: finalTarget,
            httpVersion: probe.httpVersion,
            duration: answer.duration,
            advertisesRanges: Self.advertisesRanges(headRefused ? probe : head),
            readAlongside: readAlongside
        )
    }

    /// Whether `head` is a server's refusal of HEAD itself (as presigned S3
    /// URLs, signed for GET, answer), not of the object.
    private static func refusesHead(_ head: HTTPResponse) -> Bool {
        [403, 405, 501].contains(head.status)
    }

    /// An answer and how long it took to come: the probe's is a rough
    /// first-byte latency.
    private struct TimedAnswer: Sendable {
        var response: HTTPResponse
        var duration: Duration
    }

    /// What the probe sent beside its HEAD.
    private struct EarlyAnswers: Sendable {
        /// The answer to the one-byte GET; nil when it was a redirect or
        /// failed (the probe then asks again).
        var byteZero: TimedAnswer?
        /// The answers to the edges' reads that came.
        var edges: [(RequestedBytes, HTTPResponse)] = []
    }

    /// One of ``EarlyAnswers``, as it comes.
    private enum EarlyAnswer: Sendable {
        case byteZero(TimedAnswer?)
        case edge(RequestedBytes, HTTPResponse?)
    }

    /// The one-byte GET and the `edges`' reads, each sent once to `target`
    /// while HEAD is under way.
    private func earlyAnswers(_ edges: EdgeReads, from target: RequestTarget, display: String) async -> EarlyAnswers {
        let byteZero = Self.byteZero(on: target)
        return await withTaskGroup(of: EarlyAnswer.self) { group in
            group.addTask { .byteZero(try? await timed(byteZero, display: display, purpose: HTTPMetrics.probe)) }
            for requested in edges.requests {
                group.addTask {
                    .edge(requested, try? await send(target.request(.get, byteRange: requested), display: display, purpose: FetchPurpose.read.label))
                }
            }
            var answers = EarlyAnswers()
            for await answer in group {
                switch answer {
                case let .byteZero(timed):
                    answers.byteZero = timed.flatMap { Self.redirectStatuses.contains($0.response.status) ? nil : $0 }
                case let .edge(requested, response?):
                    answers.edges.append((requested, response))
                case .edge(_, nil):
                    break
                }
            }
            return answers
        }
    }

    /// The one-byte GET once more, after HEAD: where HEAD led, on the
    /// condition that the object is the one HEAD found, or, where HEAD was
    /// refused, from the image's URL, following redirects.
    private func askAgain(after head: HTTPResponse, at headTarget: RequestTarget, from start: RequestTarget, headIdentity: RemoteIdentity?, image: ImageURL)
        async throws -> (TimedAnswer, RequestTarget)
    {
        let display = image.description
        let headRefused = Self.refusesHead(head)
        let target = headRefused ? start : headTarget
        let byteZero = Self.byteZero(on: target, headers: headIdentity?.readPrecondition.map { [$0] } ?? [])
        let clock = ContinuousClock()
        let started = clock.now
        let (response, answeredBy) = headRefused
            ? try await following(byteZero, from: image)
            : (try await retrying(display) { try await send(byteZero, display: display, purpose: HTTPMetrics.probe) }, target)
        return (TimedAnswer(response: response, duration: clock.now - started), answeredBy)
    }

    /// The probe's one-byte range GET on `target`.
    private static func byteZero(on target: RequestTarget, headers: [HTTPHeader] = []) -> HTTPRequest {
        var request = target.request(.get, byteRange: .span(0...0), headers: headers)
        // A server that ignores Range sends the object: keep its start.
        request.bodyLimit = leadingBytesLimit
        return request
    }

    /// Sends `request` once, timing it.
    private func timed(_ request: HTTPRequest, display: String, purpose: String) async throws -> TimedAnswer {
        let clock = ContinuousClock()
        let started = clock.now
        let response = try await send(request, display: display, purpose: purpose)
        return TimedAnswer(response: response, duration: clock.now - started)
    }

    /// The edges' answers that hold bytes of the object `identity` names,
    /// by the range they hold.
    private func keptEdges(_ answers: [(RequestedBytes, HTTPResponse)], identity: RemoteIdentity, display: String) -> [Range<UInt64>: [UInt8]] {
        var kept: [Range<UInt64>: [UInt8]] = [:]
        for (requested, response) in answers where response.status == 206 {
            let answered = RemoteIdentity(
                url: identity.url, size: identity.size, etag: response[header: "etag"], lastModified: response[header: "last-modified"])
            guard answered.hasValidators(of: identity), let span = EdgeReads.bytes(requested, inObjectOf: identity.size),
                  let bytes = try? accept(response, for: span, identity: identity, display: display)
            else { continue }
            kept[span.lowerBound..<span.upperBound + 1] = bytes
        }
        return kept
    }

    /// Whether `response` says the server serves byte ranges
    /// (`Accept-Ranges: bytes`).
    private static func advertisesRanges(_ response: HTTPResponse) -> Bool {
        response[header: "accept-ranges"]?.lowercased() == "bytes"
    }

    /// Each of `ranges` of the object `identity` names, read at once from
    /// `target`; those whose read failed are left out.
    private func readEach(
        _ ranges: [Range<UInt64>], from target: RequestTarget, identity: RemoteIdentity?, image: ImageURL
    ) async -> [Range<UInt64>: [UInt8]] {
        guard let identity else { return [:] }
        let valid = ranges.filter { !$0.isEmpty && $0.upperBound <= identity.size }
        return await withTaskGroup(of: (Range<UInt64>, [UInt8]?).self) { group in
            for range in valid {
                group.addTask { (range, try? await read(range, from: target, identity: identity, image: image, purpose: .read)) }
            }
            var bytes: [Range<UInt64>: [UInt8]] = [:]
            for await (range, read) in group {
                bytes[range] = read
            }
            return bytes
        }
    }

    /// The most of an object's start a probe keeps when the server sends
    /// it whole: enough to tell a qcow2 by its header.
    static let leadingBytesLimit = 512

    /// A server that answered the one-byte range with the whole object (as
    /// `python3 -m http.server` does): the image is read by one streamed
    /// download in order (``download(from:identity:image:into:)``).
    private func wholeObjectProbe(
        _ probe: HTTPResponse, target: RequestTarget, headIdentity: RemoteIdentity?, url: ImageURL, duration: Duration
    ) throws -> Probe {
        let display = url.description
        try refuseContentCoding(of: probe, display: display)
        guard let identity = try headIdentity ?? identity(of: probe, url: url) else {
            throw RemoteImageError.rangesNotSupported(
                url: display, answer: "it answered 200 OK with the whole object to Range: bytes=0-0, and no Content-Length")
        }
        guard identity.size <= RemoteIdentity.largestSize else {
            throw RemoteImageError.tooLarge(url: display, size: identity.size)
        }
        return Probe(
            identity: identity, target: target, httpVersion: probe.httpVersion, duration: duration, advertisesRanges: false,
            servesRanges: false, leadingBytes: Array(probe.body.prefix(Self.leadingBytesLimit)))
    }

    /// One GET of the whole object on `target`, for a server that does not
    /// serve ranges: only a 200 of the object opened (its size, its strong
    /// ETag, uncoded) streams to `sink`, from byte 0. Not retried here: the
    /// caller decides what a cut download costs. Returns the bytes that
    /// reached the sink.
    func download(from target: RequestTarget, identity: RemoteIdentity, image: ImageURL, into sink: any FetchSink) async throws -> UInt64 {
        let display = image.description
        var request = target.request(.get)
        request.bodyLimit = Int(clamping: identity.size)
        request.streamedBody = StreamedBody(sink: sink, offset: 0) { head in
            head.status == 200 && (try? checkWholeObject(head, identity: identity, display: display)) != nil
        }
        let response: HTTPResponse
        do {
            response = try await send(request, display: display, purpose: FetchPurpose.fill.label)
        } catch let failure as RetryableFailure {
            throw failure.error
        }
        guard response.status == 200 else {
            throw RemoteImageError.refusal(response, url: display)
        }
        try checkWholeObject(response, identity: identity, display: display)
        return UInt64(response.streamedBytes)
    }

    /// What a 200's headers must say for its body to be the object opened:
    /// a range answer's checks, with Content-Length for the size, and
    /// Last-Modified too, since no precondition went with the request.
    private func checkWholeObject(_ response: HTTPResponse, identity: RemoteIdentity, display: String) throws {
        try checkSameObject(response, size: response[header: "content-length"].flatMap { UInt64($0) }, identity: identity, display: display)
        if let modified = response[header: "last-modified"], let expected = identity.lastModified, modified != expected {
            throw RemoteImageError.imageChanged(url: display, reason: "Last-Modified \(expected) -> \(modified)")
        }
    }

    /// Sends `request` and follows the redirects it meets, at most
    /// ``maximumRedirects``: a hop from https to plain http is refused, and
    /// a hop to another origin carries none of the user's headers unless
    /// they were trusted across redirects. Returns the answer and the
    /// target that gave it.
    private func following(_ request: HTTPRequest, from image: ImageURL) async throws -> (HTTPResponse, RequestTarget) {
        let display = image.description
        var request = request
        var current = target(request.url, for: image)
        for _ in 0...Self.maximumRedirects {
            let response = try await retrying(display) { try await send(request, display: display, purpose: HTTPMetrics.probe) }
            guard Self.redirectStatuses.contains(response.status), let location = response[header: "location"] else {
                return (response, current)
            }
            guard let next = ImageURL.resolve(location, against: request.url), let origin = Origin(next) else {
                throw RemoteImageError.redirectRefused(url: display, reason: "it leads to '\(ImageURL.redact(location))', not an http(s) URL")
            }
            if Origin(request.url)?.scheme == "https" && origin.scheme == "http" {
                throw RemoteImageError.redirectRefused(url: display, reason: "it leads from https to plain http")
            }
            current = target(next, for: image)
            request.url = current.url
            request.carriesCredentials = current.carriesCredentials
        }
        throw RemoteImageError.redirectRefused(url: display, reason: "more than \(Self.maximumRedirects) redirects")
    }

    /// Where `url`'s requests go for `image`, with the user's headers or not.
    private func target(_ url: String, for image: ImageURL) -> RequestTarget {
        RequestTarget(url, for: image, trustingRedirects: client.configuration.sendsHeadersAcrossRedirects)
    }

    static let maximumRedirects = 10
    private static let redirectStatuses: Set<Int> = [301, 302, 303, 307, 308]

    /// One single-range GET of `range` on `target`, retried while transient;
    /// only an exact 206 of the unchanged object is accepted. With a `sink`
    /// the body streams there (and the bytes returned are empty); an error
    /// the sink throws ends the read as it is.
    func read(
        _ range: Range<UInt64>, from target: RequestTarget, identity: RemoteIdentity, image: ImageURL, purpose: FetchPurpose,
        into sink: (any FetchSink)? = nil
    ) async throws -> [UInt8] {
        let display = image.description
        let wanted = range.lowerBound...(range.upperBound - 1)
        var request = target.request(.get, byteRange: .span(wanted), headers: identity.readPrecondition.map { [$0] } ?? [])
        request.streamedBody = sink.map { sink in
            StreamedBody(sink: sink, offset: range.lowerBound) { head in
                head.status == 206 && (try? checkHead(of: head, for: wanted, identity: identity, display: display)) != nil
            }
        }
        return try await retrying(display) {
            let response: HTTPResponse
            do {
                response = try await send(request, display: display, purpose: purpose.label)
            } catch let failure as RetryableFailure {
                if case let .transport(_, error) = failure.error, error.isCutShort {
                    // The tier may cut a little before the slice that changed
                    // (what it had buffered is lost), so the byte where it cut
                    // may be an old slice's: a slice further on (nginx's are
                    // 1 MiB) is the changed one, and so is the range's last
                    // byte, unless the tier cached its slice before the change.
                    let cut = min(wanted.upperBound, wanted.lowerBound + UInt64(error.bodyBytesReceived))
                    let nextSlice = min(wanted.upperBound, cut + Self.sliceSpan)
                    for offset in Set([cut, nextSlice, wanted.upperBound]).sorted() {
                        try await confirmUnchanged(at: offset, on: target, identity: identity, display: display)
                    }
                }
                throw failure
            }
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
                throw RemoteImageError.refusal(response, url: display)
            }
        }
    }

    /// How far past a cut the next slice of a cache tier surely starts:
    /// nginx's slice module is set to 1 MiB by convention (and here).
    static let sliceSpan: UInt64 = 1 << 20

    /// A body cut short may be a cache tier that found the origin's object
    /// changed between the slices it joins (nginx's slice module does so):
    /// a byte of the rest of the range, asked for on the same conditions,
    /// says which, so the error names the real cause instead of a broken
    /// transfer.
    /// Throws ``RemoteImageError/imageChanged(url:reason:)`` when the object
    /// changed, and nothing when that byte does not tell.
    private func confirmUnchanged(at offset: UInt64, on target: RequestTarget, identity: RemoteIdentity, display: String) async throws {
        let request = target.request(.get, byteRange: .span(offset...offset), headers: identity.readPrecondition.map { [$0] } ?? [])
        guard let response = try? await send(request, display: display, purpose: HTTPMetrics.probe) else { return }
        switch response.status {
        case 206:
            do {
                _ = try accept(response, for: offset...offset, identity: identity, display: display)
            } catch let error as RemoteImageError where error.cause == .imageChanged {
                throw error
            } catch {}
        case 412:
            throw RemoteImageError.imageChanged(
                url: display, reason: "a read was cut short, and the byte where it was cut fails the image's validators (412 Precondition Failed)")
        default:
            break
        }
    }

    private func accept(
        _ response: HTTPResponse, for wanted: ClosedRange<UInt64>, identity: RemoteIdentity, display: String
    ) throws -> [UInt8] {
        try checkHead(of: response, for: wanted, identity: identity, display: display)
        guard !response.bodyWasCut else {
            throw RemoteImageError.malformedResponse(url: display, reason: "the body is longer than Content-Range says")
        }
        guard response.bodyLength == wanted.count else {
            throw RetryableFailure(error: .malformedResponse(
                url: display, reason: "body cut short: \(response.bodyLength) of \(wanted.count) bytes"))
        }
        return response.body
    }

    /// What a 206's headers must say for its body to be the bytes `wanted`
    /// of the object opened: that range, of that size and ETag, uncoded.
    private func checkHead(
        of response: HTTPResponse, for wanted: ClosedRange<UInt64>, identity: RemoteIdentity, display: String
    ) throws {
        guard let contentRange = response.contentRange else {
            throw RemoteImageError.malformedResponse(
                url: display, reason: "206 without a usable Content-Range ('\(response[header: "content-range"] ?? "missing")')")
        }
        try checkSameObject(response, size: contentRange.total, identity: identity, display: display)
        guard contentRange.range == wanted else {
            throw RemoteImageError.malformedResponse(
                url: display,
                reason: "asked for bytes \(wanted.lowerBound)-\(wanted.upperBound), got Content-Range '\(response[header: "content-range"] ?? "")'")
        }
    }

    /// That an answer carries the object opened, as its headers say: its
    /// bytes uncoded, the `size` it reports (if any) and its strong ETag.
    private func checkSameObject(_ response: HTTPResponse, size: UInt64?, identity: RemoteIdentity, display: String) throws {
        try refuseContentCoding(of: response, display: display)
        if let size, size != identity.size {
            throw RemoteImageError.imageChanged(url: display, reason: "size \(identity.size) -> \(size)")
        }
        if let expected = identity.strongETag, response.header("etag", differsFrom: expected) {
            throw RemoteImageError.imageChanged(url: display, reason: "ETag \(expected) -> \(response[header: "etag"] ?? "")")
        }
    }

    private func identity(of head: HTTPResponse, url: ImageURL) throws -> RemoteIdentity? {
        try refuseContentCoding(of: head, display: url.description)
        guard let length = head[header: "content-length"].flatMap({ UInt64($0) }) else { return nil }
        return RemoteIdentity(url: url.withoutQuery, size: length, etag: head[header: "etag"], lastModified: head[header: "last-modified"])
    }

    /// A body in a content coding (gzip, br, …) is not the disk's bytes,
    /// and a Content-Length or Content-Range then counts the coded bytes.
    private func refuseContentCoding(of response: HTTPResponse, display: String) throws {
        guard let coding = response[header: "content-encoding"], coding.lowercased() != "identity" else { return }
        throw RemoteImageError.contentEncoded(url: display, coding: coding)
    }

    /// Sends a request, counted under `purpose`; a transport failure or a
    /// 429/5xx answer becomes a ``RetryableFailure`` when it is worth
    /// another try.
    private func send(_ request: HTTPRequest, display: String, purpose: String) async throws -> HTTPResponse {
        var request = request
        request.credentials = credentials
        let response: HTTPResponse
        let clock = ContinuousClock()
        let started = clock.now
        do {
            response = try await client.send(request)
        } catch let error as CurlError {
            HTTPMetrics.record(purpose: purpose, status: nil, bodyBytes: 0, duration: clock.now - started)
            let failure = RemoteImageError.transport(url: display, error)
            throw error.isTransient ? RetryableFailure(error: failure) : failure
        }
        HTTPMetrics.record(purpose: purpose, status: response.status, bodyBytes: response.bodyLength, duration: clock.now - started)
        if response.status == 429 || (500...599).contains(response.status) {
            throw RetryableFailure(
                error: .httpStatus(url: display, status: response.status),
                retryAfter: RetryPolicy.retryAfter(response[header: "retry-after"]))
        }
        return response
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retry policy
    /// says stop, sleeping with backoff (or as `Retry-After` asks) in between.
    private func retrying<Result>(_ display: String, _ attempt: () async throws -> Result) async throws -> Result {
        let clock = ContinuousClock()
        let started = clock.now
        var attempts = 0
        while true {
            attempts += 1
            do {
                return try await attempt()
            } catch let failure as RetryableFailure {
                let delay = retryPolicy.delay(beforeRetry: attempts, retryAfter: failure.retryAfter)
                switch retryPolicy.giveUp(
                    afterAttempt: attempts, elapsed: clock.now - started, delay: delay,
                    attemptTime: client.configuration.lowSpeedTimeout)
                {
                case nil:
                    logger.warning("retrying", metadata: ["error": "\(failure.error)", "attempt": "\(attempts)", "delay": "\(delay)"])
                    try await Task.sleep(for: delay)
                case .retriesUsed:
                    throw attempts == 1 ? failure.error : RemoteImageError.retriesExhausted(attempts: attempts, last: failure.error)
                case let .timeSpent(maximumTime):
                    throw RemoteImageError.retryTimeSpent(attempts: attempts, maximumTime: maximumTime, last: failure.error)
                }
            }
        }
    }
}
