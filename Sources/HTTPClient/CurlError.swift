import CCurl

/// A transfer that failed below HTTP: connection, TLS, timeout, a body cut short.
public struct CurlError: Error, Sendable, Hashable {
    /// libcurl's `CURLcode`.
    public var code: Int
    /// libcurl's message for it, with details when it gave any. It names hosts
    /// and ports, never a URL's query.
    public var message: String
    /// Bytes of the response body that arrived before the failure: where a
    /// body cut short was cut.
    public var bodyBytesReceived: Int

    init(_ code: CURLcode, detail: String, bodyBytesReceived: Int = 0) {
        self.code = Int(code.rawValue)
        self.bodyBytesReceived = bodyBytesReceived
        let summary = String(cString: curl_easy_strerror(code))
        message = detail.isEmpty ? summary : detail
    }

    /// Worth trying again: the server or the network may do better next time.
    public var isTransient: Bool {
        Self.transientCodes.contains(code)
    }

    /// The connection closed before the body was whole: a network fault,
    /// or a server (or a cache tier) that found the object changed mid-body.
    public var isCutShort: Bool { code == Int(CURLE_PARTIAL_FILE.rawValue) }

    /// A timeout (connect or low speed).
    public var isTimeout: Bool { code == Int(CURLE_OPERATION_TIMEDOUT.rawValue) }

    private static let transientCodes: Set<Int> = Set([
        CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_OPERATION_TIMEDOUT, CURLE_PARTIAL_FILE,
        CURLE_GOT_NOTHING, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_HTTP2, CURLE_HTTP2_STREAM,
    ].map { Int($0.rawValue) })
}

extension CurlError: CustomStringConvertible {
    public var description: String { message }
}
