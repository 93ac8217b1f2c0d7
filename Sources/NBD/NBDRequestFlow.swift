import NIOCore

/// Decides, for one connection, when each request starts and when to read
/// more from the socket.
///
/// Requests start in the order they arrived. One carried out by a task is in
/// flight until answered, and at ``maximumInFlight`` the rest wait. Nothing
/// starts while the socket is backed up: its replies would only pile up in
/// memory. The socket is read only when no request waits, so a client that
/// sends faster than it takes replies is held back by the socket, not by our
/// memory. After NBD_CMD_DISC nothing more starts, and the connection closes
/// once the requests in flight are answered. A server that stops drains:
/// it reads no more, answers every request it has read, then closes.
struct NBDRequestFlow {
    let maximumInFlight: Int
    private var waiting = CircularBuffer<NBDRequest>()
    private(set) var inFlight = 0
    private(set) var isDisconnecting = false
    private(set) var isDraining = false

    init(maximumInFlight: Int) {
        self.maximumInFlight = maximumInFlight
    }

    /// Queues a request that arrived; anything after a disconnect is dropped.
    mutating func receive(_ request: NBDRequest) {
        guard !isDisconnecting else { return }
        waiting.append(request)
    }

    /// The next request to start, if one may start now.
    mutating func nextRequest(canWrite: Bool) -> NBDRequest? {
        guard canWrite, inFlight < maximumInFlight, !isDisconnecting, let request = waiting.popFirst() else { return nil }
        guard request.command != .disconnect else {
            isDisconnecting = true
            waiting.removeAll()
            return nil
        }
        return request
    }

    /// A request went to a task of its own.
    mutating func taskStarted() {
        inFlight += 1
    }

    /// A task's request was answered.
    mutating func taskFinished() {
        inFlight -= 1
    }

    /// The server is stopping: the requests read so far are answered, and
    /// no more are read.
    mutating func drain() {
        isDraining = true
    }

    /// Whether to read more requests from the socket.
    var wantsRequests: Bool { waiting.isEmpty && !isDisconnecting && !isDraining }

    /// Whether the client disconnected, or the server drained, and every
    /// request is answered.
    var isFinished: Bool { (isDisconnecting || isDraining && waiting.isEmpty) && inFlight == 0 }
}
