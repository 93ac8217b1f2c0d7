/// What the server answered to one ``HTTPRequest``.
public struct HTTPResponse: Sendable {
    /// The response's status.
    public var status: Int
    /// Header fields, looked up by name.
    public var headers: HTTPHeaderFields
    public var body: [UInt8]
    /// Bytes of the body handed to the request's streamed-body sink instead
    /// of kept in ``body``.
    public var streamedBytes: Int = 0
    /// True when the body was cut off at the request's ``HTTPRequest/bodyLimit``.
    public var bodyWasCut: Bool
    /// The HTTP version the exchange used ("1.1", "2").
    public var httpVersion: String

    /// The body's length, kept or streamed.
    public var bodyLength: Int { body.count + streamedBytes }

    /// The field named `name`, in any case; the last value wins when a
    /// field repeats.
    public subscript(header name: String) -> String? {
        headers[name]
    }

    /// The Content-Range field, parsed from its bytes in place.
    public var contentRange: ContentRange? {
        headers.withValue(of: "content-range") { $0.flatMap(ContentRange.init(bytes:)) }
    }

    /// Whether the field named `name` is there and says something other
    /// than `value`, told without making a string of it.
    public func header(_ name: String, differsFrom value: String) -> Bool {
        var value = value
        return headers.withValue(of: name) { field in
            value.withUTF8 { expected in field.map { !$0.elementsEqual(expected) } ?? false }
        }
    }
}
