import CCurl
import Fetching

/// One transfer on the loop's thread: an easy handle, lent by the loop's
/// ``CurlHandlePool`` for the transfer, and the response it is collecting.
final class CurlTransfer {
    let handle: CurlHandle
    private let id: Int
    private let request: HTTPRequest
    private let continuation: CheckedContinuation<HTTPResponse, any Error>
    private var status = 0
    private var headers = HTTPHeaderFields()
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

    init(_ submission: CurlEventLoop.Submission, handle: CurlHandle) throws {
        self.handle = handle
        id = submission.id
        request = submission.request
        continuation = submission.continuation
        if request.streamedBody == nil {
            body.reserveCapacity(request.bodyLimit)
        }
        try configure()
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
            finish(throwing: CurlError(result, detail: handle.errorDetail, bodyBytesReceived: body.count + streamedBytes))
            return
        }
        var responseCode = 0
        _ = ccurl_easy_getinfo_long(handle.pointer, CURLINFO_RESPONSE_CODE, &responseCode)
        var version = 0
        _ = ccurl_easy_getinfo_long(handle.pointer, CURLINFO_HTTP_VERSION, &version)
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

    /// Sets every option that is the request's own, clearing those it
    /// lacks: the handle still holds the last transfer's.
    private func configure() throws {
        handle.clearError()
        try handle.set(CURLOPT_URL, request.url)
        // Over TLS a transfer waits for a connection being set up to say
        // (by ALPN) whether it multiplexes, so an HTTP/2 server gets one
        // connection, not one each. Plain HTTP is HTTP/1.1 here: waiting
        // would hold every request behind the first one's whole answer.
        let overTLS = request.url.utf8.prefix(6).elementsEqual("https:".utf8) { $0.asciiLowercased == $1 }
        try handle.set(CURLOPT_PIPEWAIT, overTLS ? 1 : 0)
        try handle.set(CURLOPT_PRIVATE, pointer: UnsafeMutableRawPointer(bitPattern: id))
        switch request.method {
        case .head: try handle.set(CURLOPT_NOBODY, 1)
        case .get: try handle.set(CURLOPT_HTTPGET, 1)
        }
        try handle.set(CURLOPT_RANGE, request.byteRange?.rangeValue)
        // Large bodies arrive in fewer, larger reads: less work per byte on
        // the one thread that drives every transfer. Room for the response's
        // head as well lets a one-chunk reply arrive in one read, not two.
        let receiveBuffer = max(request.bodyLimit, 16 << 10) + Self.responseHeadAllowance
        try handle.set(CURLOPT_BUFFERSIZE, min(receiveBuffer, Self.largestReceiveBuffer))
        let credentials = request.carriesCredentials ? request.credentials : Credentials()
        let signing = credentials.awsSigning
        try handle.setHeaders(Self.identityCoding, credentials.headers, signing.map(Self.signingHeaders) ?? [], request.headers)
        try handle.set(CURLOPT_AWS_SIGV4, signing?.curlProvider)
        try handle.set(CURLOPT_USERNAME, signing?.accessKeyID)
        try handle.set(CURLOPT_PASSWORD, signing?.secretAccessKey)

        let context = Unmanaged.passUnretained(self).toOpaque()
        try handle.set(CURLOPT_HEADERDATA, pointer: context)
        try handle.set(CURLOPT_HEADERFUNCTION) { data, size, count, context in
            Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
                .receiveHeader(UnsafeRawBufferPointer(start: data, count: size * count))
        }
        try handle.set(CURLOPT_WRITEDATA, pointer: context)
        try handle.set(CURLOPT_WRITEFUNCTION) { data, size, count, context in
            Unmanaged<CurlTransfer>.fromOpaque(context!).takeUnretainedValue()
                .receiveBody(UnsafeRawBufferPointer(start: data, count: size * count))
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
            headers.removeAll()
            status = Self.statusCode(ofStatusLine: line) ?? 0
            isErrorResponse = status >= 400
        } else {
            headers.append(line: line)
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
