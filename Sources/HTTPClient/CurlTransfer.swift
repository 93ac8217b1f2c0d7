import CCurl
import Fetching

/// One transfer on the loop's thread: a configured easy handle, lent by the
/// loop's ``CurlHandlePool`` for the transfer, and the response it is
/// collecting.
final class CurlTransfer {
    let handle: UnsafeMutableRawPointer
    private let id: Int
    private let request: HTTPRequest
    private let continuation: CheckedContinuation<HTTPResponse, any Error>
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
    private var status = 0
    /// Room for what servers usually send, so a response's headers fill
    /// it without the dictionary growing step by step.
    private var headers = [String: String](minimumCapacity: 16)
    /// A body that is not streamed: room for the body limit is reserved up
    /// front and filled by `memcpy`, never zeroed first.
    private var body: [UInt8] = []
    /// Whether the body goes to the request's sink, decided at its first
    /// byte (nil before).
    private var streams: Bool?
    private var streamedBytes = 0
    /// Why the sink refused bytes; the transfer fails with it.
    private var sinkFailure: (any Error)?
    private var bodyWasCut = false
    /// Whether the response is an error, whose body (an S3 error document)
    /// may be longer than the range asked for and says why.
    private var isErrorResponse = false
    /// The sink had no room for the last bytes: curl holds them, paused,
    /// until the loop resumes the transfer.
    var isHeld = false

    init(_ submission: CurlEventLoop.Submission, handle: UnsafeMutableRawPointer, configuration: HTTPClientConfiguration) throws {
        self.handle = handle
        id = submission.id
        request = submission.request
        continuation = submission.continuation
        errorBuffer.initialize(to: 0)
        if request.streamedBody == nil {
            body.reserveCapacity(request.bodyLimit)
        }
        try configure(with: configuration)
    }

    /// The handle goes back to the pool, reset, before its transfer ends.
    deinit {
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    /// The id a finished easy handle was submitted with.
    static func id(of handle: UnsafeMutableRawPointer) -> Int {
        var pointer: UnsafeMutableRawPointer?
        _ = ccurl_easy_getinfo_pointer(handle, CURLINFO_PRIVATE, &pointer)
        return Int(bitPattern: pointer)
    }

    func finish(_ result: CURLcode) {
        if let sinkFailure {
            finish(throwing: sinkFailure)
            return
        }
        let cutOnPurpose = result == CURLE_WRITE_ERROR && bodyWasCut
        guard result == CURLE_OK || cutOnPurpose else {
            finish(throwing: CurlError(result, detail: String(cString: errorBuffer), bodyBytesReceived: body.count + streamedBytes))
            return
        }
        var responseCode = 0
        _ = ccurl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &responseCode)
        var version = 0
        _ = ccurl_easy_getinfo_long(handle, CURLINFO_HTTP_VERSION, &version)
        continuation.resume(returning: HTTPResponse(
            status: responseCode,
            headers: headers,
            body: body,
            streamedBytes: streamedBytes,
            bodyWasCut: bodyWasCut,
            httpVersion: Self.versionName(version)
        ))
    }

    func finish(throwing error: any Error) {
        continuation.resume(throwing: error)
    }

    private func configure(with configuration: HTTPClientConfiguration) throws {
        try set(CURLOPT_URL, request.url)
        try set(CURLOPT_PRIVATE, pointer: UnsafeMutableRawPointer(bitPattern: id))
        try set(CURLOPT_NOSIGNAL, 1)
        try set(CURLOPT_PROTOCOLS_STR, "http,https")
        // Exchange follows redirects itself, hop by hop.
        try set(CURLOPT_FOLLOWLOCATION, 0)
        try set(CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS)
        try set(CURLOPT_PIPEWAIT, 1)
        try set(CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout.milliseconds))
        try set(CURLOPT_LOW_SPEED_LIMIT, configuration.lowSpeedLimit)
        try set(CURLOPT_LOW_SPEED_TIME, max(1, Int(configuration.lowSpeedTimeout.milliseconds / 1000)))
        try set(CURLOPT_SSL_VERIFYPEER, configuration.verifiesTLS ? 1 : 0)
        try set(CURLOPT_SSL_VERIFYHOST, configuration.verifiesTLS ? 2 : 0)
        if let caFile = configuration.caCertificatesFile {
            try set(CURLOPT_CAINFO, caFile)
        }
        try set(CURLOPT_USERAGENT, configuration.userAgent)
        try set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(errorBuffer))
        switch request.method {
        case .head: try set(CURLOPT_NOBODY, 1)
        case .get: try set(CURLOPT_HTTPGET, 1)
        }
        if let range = request.byteRange {
            try set(CURLOPT_RANGE, "\(range.lowerBound)-\(range.upperBound)")
        }
        // Large bodies arrive in fewer, larger reads: less work per byte on
        // the one thread that drives every transfer. Room for the response's
        // head as well lets a one-chunk reply arrive in one read, not two.
        let receiveBuffer = max(request.bodyLimit, 16 << 10) + Self.responseHeadAllowance
        try set(CURLOPT_BUFFERSIZE, min(receiveBuffer, Self.largestReceiveBuffer))
        let credentials = request.carriesCredentials ? request.credentials : Credentials()
        try append(Self.identityCoding)
        try append(credentials.headers)
        if let signing = credentials.awsSigning {
            try append(Self.signingHeaders(signing))
            try set(CURLOPT_AWS_SIGV4, signing.curlProvider)
            try set(CURLOPT_USERNAME, signing.accessKeyID)
            try set(CURLOPT_PASSWORD, signing.secretAccessKey)
        }
        try append(request.headers)
        try check(ccurl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))

        let context = Unmanaged.passUnretained(self).toOpaque()
        try set(CURLOPT_HEADERDATA, pointer: context)
        try check(ccurl_easy_setopt_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
            Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
                .receiveHeader(UnsafeRawBufferPointer(start: data, count: size * count))
        })
        try set(CURLOPT_WRITEDATA, pointer: context)
        try check(ccurl_easy_setopt_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
                .receiveBody(UnsafeRawBufferPointer(start: data, count: size * count))
        })
    }

    /// Adds `headers` to the transfer's list, in order (the lists are
    /// walked one after another, not joined into a new array first).
    private func append(_ headers: [HTTPHeader]) throws {
        for header in headers {
            guard header.isSafeToSend else {
                throw CurlError(CURLE_BAD_FUNCTION_ARGUMENT, detail: "the header '\(header.name)' cannot be sent: it holds a line break")
            }
            headerList = "\(header.name): \(header.value)".withCString { curl_slist_append(headerList, $0) }
        }
    }

    /// Content codings would make the bytes on the wire differ from the
    /// disk's; every request asks for none (RemoteImage's `Exchange`
    /// refuses any that still comes).
    private static let identityCoding = [HTTPHeader(name: "Accept-Encoding", value: "identity")]

    /// Headers a SigV4-signed S3 request needs besides the signature: the
    /// session token of temporary keys, and the payload hash S3 demands,
    /// which libcurl 7.88 does not send by itself.
    private static func signingHeaders(_ signing: AWSSigning) -> [HTTPHeader] {
        [HTTPHeader(name: "x-amz-content-sha256", value: "UNSIGNED-PAYLOAD")]
            + (signing.sessionToken.map { [HTTPHeader(name: "x-amz-security-token", value: $0)] } ?? [])
    }

    /// A status line starts a new response (an interim 1xx answer has one
    /// too); the headers kept are those of the last.
    private func receiveHeader(_ line: UnsafeRawBufferPointer) -> Int {
        if line.starts(with: "HTTP/".utf8) {
            headers.removeAll(keepingCapacity: true)
            status = Self.statusCode(ofStatusLine: line) ?? 0
            isErrorResponse = status >= 400
        } else if let header = HTTPHeader(utf8: line, lowercasingName: true) {
            headers[header.name] = header.value
        }
        return line.count
    }

    /// The three digits after the status line's first space.
    private static func statusCode(ofStatusLine line: UnsafeRawBufferPointer) -> Int? {
        guard let space = line.firstIndex(of: UInt8(ascii: " ")), line.endIndex - space > 3 else { return nil }
        return line[space + 1...space + 3].reduce(0 as Int?) { code, byte in
            guard let code, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            return code * 10 + Int(byte - UInt8(ascii: "0"))
        }
    }

    /// Returning less than was offered makes curl abort the transfer.
    private func receiveBody(_ chunk: UnsafeRawBufferPointer) -> Int {
        if let streamed = request.streamedBody {
            if streams == nil {
                streams = streamed.admits(HTTPResponse(status: status, headers: headers, body: [], bodyWasCut: false, httpVersion: ""))
            }
            if streams == true {
                return stream(chunk, to: streamed)
            }
        }
        // A body that was to stream but was not admitted (a changed object,
        // a wrong range) is kept only as far as judging it needs: the limit
        // is the stream's, which may be a whole image.
        let limit = request.streamedBody != nil ? Self.errorBodyLimit
            : isErrorResponse ? max(request.bodyLimit, Self.errorBodyLimit) : request.bodyLimit
        guard body.count + chunk.count <= limit else {
            // What fits is kept (the start of an object a server sent whole).
            body.append(contentsOf: chunk.prefix(limit - body.count).assumingMemoryBound(to: UInt8.self))
            bodyWasCut = true
            return 0
        }
        body.append(contentsOf: chunk.assumingMemoryBound(to: UInt8.self))
        return chunk.count
    }

    private func stream(_ chunk: UnsafeRawBufferPointer, to streamed: StreamedBody) -> Int {
        guard streamedBytes + chunk.count <= request.bodyLimit else {
            bodyWasCut = true
            return 0
        }
        do {
            try streamed.sink.write(chunk, at: streamed.offset + UInt64(streamedBytes))
        } catch is FetchSinkIsFull {
            isHeld = true
            return Int(CURL_WRITEFUNC_PAUSE)
        } catch {
            sinkFailure = error
            return 0
        }
        streamedBytes += chunk.count
        return chunk.count
    }

    private func set(_ option: CURLoption, _ value: Int) throws {
        try check(ccurl_easy_setopt_long(handle, option, value))
    }

    /// `withCString`, not the implicit conversion: that copies a short
    /// string (a range, the protocols) into a new array on every call.
    private func set(_ option: CURLoption, _ value: String) throws {
        try value.withCString { try check(ccurl_easy_setopt_string(handle, option, $0)) }
    }

    private func set(_ option: CURLoption, pointer: UnsafeMutableRawPointer?) throws {
        try check(ccurl_easy_setopt_pointer(handle, option, pointer))
    }

    private func check(_ code: CURLcode) throws {
        guard code == CURLE_OK else { throw CurlError(code, detail: "") }
    }

    /// Enough of an error document to find its code.
    private static let errorBodyLimit = 16 << 10

    /// curl's receive buffer for large bodies (its default is 16 KiB; it
    /// hands the write callback 16 KiB at most either way). Each pooled
    /// handle keeps one: at 64 KiB, not 256, every command peaks ~3 MiB
    /// lower, and a 1 GiB pull costs curl's thread no more (docs/benchmarks.md).
    private static let largestReceiveBuffer = 64 << 10

    /// What a response's status line and headers take beside its body:
    /// nginx sends ~300 bytes, an object store's signed replies ~1 KiB.
    private static let responseHeadAllowance = 4 << 10

    private static func versionName(_ version: Int) -> String {
        switch version {
        case Int(CURL_HTTP_VERSION_1_0): "1.0"
        case Int(CURL_HTTP_VERSION_1_1): "1.1"
        case Int(CURL_HTTP_VERSION_2_0): "2"
        case Int(CURL_HTTP_VERSION_3): "3"
        default: "unknown"
        }
    }
}
