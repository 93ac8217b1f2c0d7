import LayeredDisk

/// What a server tells the program running it, so a failure a guest sees
/// as an I/O error is never silent: clients coming and going, and every
/// request that failed, with its cause. Called on event loops and request
/// tasks: must return quickly.
public protocol NBDServerEvents: Sendable {
    /// A client connected from `peer` (an address, or the socket's path).
    func clientConnected(_ peer: String)
    func clientDisconnected(_ peer: String)
    /// A request failed and the client was told so.
    func requestFailed(_ command: String, cause: FailureCause, message: String)
}
