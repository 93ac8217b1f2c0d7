import Fetching

/// A request's body handed to a sink as it arrives, so a large range costs
/// no memory beyond curl's receive buffer.
///
/// Only a response whose status and headers pass ``admits`` streams: any
/// other body (an error document, a wrong range) is kept in the response
/// for RemoteImage's `Exchange` to judge, and never reaches the sink.
///
/// A sink that throws `FetchSinkIsFull` pauses the transfer: curl keeps the
/// bytes and offers them again after ``CurlClient/resumeHeldTransfers()``.
public struct StreamedBody: Sendable {
    public let sink: any FetchSink
    /// The object's byte the body's first byte is.
    public let offset: UInt64
    /// Whether a response, judged by its status and headers alone (its body
    /// is empty), carries the bytes asked for.
    public let admits: @Sendable (HTTPResponse) -> Bool

    public init(sink: any FetchSink, offset: UInt64, admits: @escaping @Sendable (HTTPResponse) -> Bool) {
        self.sink = sink
        self.offset = offset
        self.admits = admits
    }
}
