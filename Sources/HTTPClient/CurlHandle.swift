import CCurl

/// A curl easy handle set up once with what every transfer shares
/// (protocols, timeouts, TLS, user agent, an error buffer), so a transfer
/// sets only what is its own.
///
/// Setting the shared options anew for each 4 KiB miss meant resetting the
/// handle, copying its strings again and growing its receive buffer back
/// from curl's default: work on curl's one thread that no reply needed.
final class CurlHandle {
    let pointer: UnsafeMutableRawPointer
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
    /// The request headers the handle points at: the handle owns them, so a
    /// transfer that ends cannot leave it pointing at freed memory.
    private var headerList: UnsafeMutablePointer<curl_slist>?
    /// The lines `headerList` was made from: a transfer with the same ones
    /// (every range request of an image that signs nothing) keeps the list.
    private var headerLines: [[HTTPHeader]] = []

    init(configuration: HTTPClientConfiguration) throws {
        guard let pointer = curl_easy_init() else {
            errorBuffer.deallocate()
            throw CurlError(CURLE_FAILED_INIT, detail: "")
        }
        self.pointer = pointer
        errorBuffer.initialize(to: 0)
        try set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(errorBuffer))
        try set(CURLOPT_NOSIGNAL, 1)
        try set(CURLOPT_PROTOCOLS_STR, "http,https")
        // Exchange follows redirects itself, hop by hop.
        try set(CURLOPT_FOLLOWLOCATION, 0)
        try set(CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS)
        try set(CURLOPT_CONNECTTIMEOUT_MS, Int(configuration.connectTimeout.milliseconds))
        try set(CURLOPT_LOW_SPEED_LIMIT, configuration.lowSpeedLimit)
        try set(CURLOPT_LOW_SPEED_TIME, max(1, Int(configuration.lowSpeedTimeout.milliseconds / 1000)))
        try set(CURLOPT_SSL_VERIFYPEER, configuration.verifiesTLS ? 1 : 0)
        try set(CURLOPT_SSL_VERIFYHOST, configuration.verifiesTLS ? 2 : 0)
        if let caFile = configuration.caCertificatesFile {
            try set(CURLOPT_CAINFO, caFile)
        }
        try set(CURLOPT_USERAGENT, configuration.userAgent)
    }

    deinit {
        curl_easy_cleanup(pointer)
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    /// What curl wrote about the last failure; empty once cleared.
    var errorDetail: String {
        String(cString: errorBuffer)
    }

    /// Forgets the last transfer's error text before the next one starts.
    func clearError() {
        errorBuffer[0] = 0
    }

    /// Replaces the request headers with `lines` (`Name: value`), walked
    /// one list after another rather than joined into a new array first;
    /// the same lines as the last transfer's keep its list.
    func setHeaders(_ lines: [HTTPHeader]...) throws {
        guard lines != headerLines else { return }
        try set(CURLOPT_HTTPHEADER, list: nil)
        headerLines = []
        curl_slist_free_all(headerList)
        headerList = nil
        for header in lines.joined() {
            guard header.isSafeToSend else {
                throw CurlError(CURLE_BAD_FUNCTION_ARGUMENT, detail: "the header '\(header.name)' cannot be sent: it holds a line break")
            }
            headerList = "\(header.name): \(header.value)".withCString { curl_slist_append(headerList, $0) }
        }
        try set(CURLOPT_HTTPHEADER, list: headerList)
        headerLines = lines
    }

    func set(_ option: CURLoption, _ value: Int) throws {
        try check(ccurl_easy_setopt_long(pointer, option, value))
    }

    /// `withCString`, not the implicit conversion: that copies a short
    /// string (a range, the protocols) into a new array on every call. nil
    /// clears the option.
    func set(_ option: CURLoption, _ value: String?) throws {
        guard let value else {
            try check(ccurl_easy_setopt_string(pointer, option, nil))
            return
        }
        try value.withCString { try check(ccurl_easy_setopt_string(pointer, option, $0)) }
    }

    func set(_ option: CURLoption, pointer value: UnsafeMutableRawPointer?) throws {
        try check(ccurl_easy_setopt_pointer(pointer, option, value))
    }

    func set(_ option: CURLoption, callback: ccurl_data_callback) throws {
        try check(ccurl_easy_setopt_callback(pointer, option, callback))
    }

    private func set(_ option: CURLoption, list: UnsafeMutablePointer<curl_slist>?) throws {
        try check(ccurl_easy_setopt_slist(pointer, option, list))
    }

    private func check(_ code: CURLcode) throws {
        guard code == CURLE_OK else { throw CurlError(code, detail: "") }
    }
}
