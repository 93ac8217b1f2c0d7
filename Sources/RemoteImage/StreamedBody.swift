import Fetching

/// A request's body handed to a sink as it arrives, so a large range costs
/// no memory beyond curl's receive buffer.
///
/// Only a response whose status and headers pass ``admits`` streams: any
/// other body (an error document, a wrong range) is kept in the response
/// for ``Exchange`` to judge, and never reaches the sink.
struct StreamedBody: Sendable {
    let sink: any FetchSink
    /// The object's byte the body's first byte is.
    let offset: UInt64
    /// Whether a response, judged by its status and headers alone (its body
    /// is empty), carries the bytes asked for.
    let admits: @Sendable (HTTPResponse) -> Bool
}
