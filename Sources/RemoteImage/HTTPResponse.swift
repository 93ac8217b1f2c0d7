/// What the server answered to one ``HTTPRequest``.
public struct HTTPResponse: Sendable {
    /// The status of the final response (after any redirects followed).
    public var status: Int
    /// Header fields of the final response, names lowercased; the last value
    /// wins when a field repeats.
    public var headers: [String: String]
    public var body: [UInt8]
    /// True when the body was cut off at the request's ``HTTPRequest/bodyLimit``.
    public var bodyWasCut: Bool
    /// The URL that answered, after redirects; it may carry a query.
    public var effectiveURL: String
    /// The HTTP version the exchange used ("1.1", "2").
    public var httpVersion: String

    public subscript(header name: String) -> String? {
        headers[name.lowercased()]
    }
}
