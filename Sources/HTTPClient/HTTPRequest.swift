/// One HTTP request for the curl client: a HEAD or a single-range GET.
/// Redirects are never followed by the client: RemoteImage's `Exchange`
/// follows them itself, deciding at each hop whether credentials go along.
public struct HTTPRequest: Sendable {
    public enum Method: String, Sendable {
        case head = "HEAD"
        case get = "GET"
    }

    public var method: Method
    /// The full URL, query included; never printed (see `ImageURL`).
    public var url: String
    /// The bytes to ask for with a single `Range` header.
    public var byteRange: RequestedBytes?
    /// Headers sent in addition to the client's configured ones.
    public var headers: [HTTPHeader]
    /// Whether ``credentials`` go with this request: only to the origin
    /// they were given for.
    public var carriesCredentials: Bool
    /// The user's credentials (headers, AWS signing), sent when
    /// ``carriesCredentials``.
    public var credentials: Credentials
    /// The transfer is cut off once the body grows past this many bytes, so a
    /// server that ignores the range cannot make us download a whole image.
    /// Defaults to the range's length, or 64 KiB without one.
    public var bodyLimit: Int
    /// Where the body goes as it arrives, if its response qualifies, instead
    /// of into ``HTTPResponse/body``.
    public var streamedBody: StreamedBody?

    public init(
        method: Method,
        url: String,
        byteRange: RequestedBytes? = nil,
        headers: [HTTPHeader] = [],
        carriesCredentials: Bool = true,
        credentials: Credentials = Credentials(),
        bodyLimit: Int? = nil
    ) {
        self.method = method
        self.url = url
        self.byteRange = byteRange
        self.headers = headers
        self.carriesCredentials = carriesCredentials
        self.credentials = credentials
        self.bodyLimit = bodyLimit ?? byteRange.map { Int(clamping: $0.count) } ?? 64 * 1024
    }
}
