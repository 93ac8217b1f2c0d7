/// One HTTP request for the curl client: a HEAD or a single-range GET.
public struct HTTPRequest: Sendable {
    public enum Method: String, Sendable {
        case head = "HEAD"
        case get = "GET"
    }

    public var method: Method
    /// The full URL, query included; never printed (see ``ImageURL``).
    public var url: String
    /// Inclusive byte range to ask for with a single `Range: bytes=a-b`.
    public var byteRange: ClosedRange<UInt64>?
    /// Headers sent in addition to the client's configured ones.
    public var headers: [HTTPHeader]
    /// Follow redirects (only when opening; reads use the pinned final URL).
    public var followRedirects: Bool
    /// The transfer is cut off once the body grows past this many bytes, so a
    /// server that ignores the range cannot make us download a whole image.
    /// Defaults to the range's length, or 64 KiB without one.
    public var bodyLimit: Int

    public init(
        method: Method,
        url: String,
        byteRange: ClosedRange<UInt64>? = nil,
        headers: [HTTPHeader] = [],
        followRedirects: Bool = false,
        bodyLimit: Int? = nil
    ) {
        self.method = method
        self.url = url
        self.byteRange = byteRange
        self.headers = headers
        self.followRedirects = followRedirects
        self.bodyLimit = bodyLimit ?? byteRange.map { Int($0.count) } ?? 64 * 1024
    }
}
