import NIOCore

/// Decides, for one connection, when each request starts and when to read
/// more from the socket.
///
/// Requests start in the order they arrived. One carried out by a task is in
/// flight until answered, and at ``maximumInFlight`` the rest wait, as they
/// do when the data of those in flight (read replies being gathered, write
/// payloads) would pass ``maximumBytesInFlight``: a client's queue depth
/// costs the server bounded memory whatever the size of its requests (one
/// request larger than the budget starts alone). Nothing
/// starts while the socket is backed up: its replies would only pile up in
/// memory. The socket is read only when no request waits, so a client that
/// sends faster than it takes replies is held back by the socket, not by our
/// memory. After NBD_CMD_DISC nothing more starts, and the connection closes
/// once the requests in flight are answered. A server that stops drains:
/// it reads no more, answers every request it has read, then closes.
struct NBDRequestFlow {
    let maximumInFlight: Int
    let maximumBytesInFlight: Int
    private var waiting = CircularBuffer<NBDRequest>()
    private(set) var inFlight = 0
    private(set) var bytesInFlight = 0
    private(set) var isDisconnecting = false
    private(set) var isDraining = false

    init(maximumInFlight: Int, maximumBytesInFlight: Int = .max) {
        self.maximumInFlight = maximumInFlight
        self.maximumBytesInFlight = maximumBytesInFlight
    }

    /// Queues a request that arrived; anything after a disconnect is dropped.
    mutating func receive(_ request: NBDRequest) {
        guard !isDisconnecting else { return }
        waiting.append(request)
    }

    /// The next request to start, if one may start now.
    mutating func nextRequest(canWrite: Bool) -> NBDRequest? {
        guard canWrite, inFlight < maximumInFlight, !isDisconnecting, let request = waiting.first else { return nil }
        guard inFlight == 0 || bytesInFlight + Self.bytesHeld(by: request) <= maximumBytesInFlight else { return nil }
        waiting.removeFirst()
        guard request.command != .disconnect else {
            isDisconnecting = true
            waiting.removeAll()
            return nil
        }
        return request
    }

    /// `request` went to a task of its own.
    mutating func taskStarted(_ request: NBDRequest) {
        inFlight += 1
        bytesInFlight += Self.bytesHeld(by: request)
    }

    /// The task of `request` was answered.
    mutating func taskFinished(_ request: NBDRequest) {
        inFlight -= 1
        bytesInFlight -= Self.bytesHeld(by: request)
    }

    /// The data a request holds in memory until it is answered.
    private static func bytesHeld(by request: NBDRequest) -> Int {
        switch request.command {
        case .read, .write: Int(request.length)
        default: 0
        }
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
