/// What the server answered to one ``HTTPRequest``.
public struct HTTPResponse: Sendable {
    /// The response's status.
    public var status: Int
    /// Header fields, names lowercased; the last value
    /// wins when a field repeats.
    public var headers: [String: String]
    public var body: [UInt8]
    /// True when the body was cut off at the request's ``HTTPRequest/bodyLimit``.
    public var bodyWasCut: Bool
    /// The HTTP version the exchange used ("1.1", "2").
    public var httpVersion: String

    public subscript(header name: String) -> String? {
        headers[name.lowercased()]
    }
}
