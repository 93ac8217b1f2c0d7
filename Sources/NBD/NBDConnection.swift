import NIOCore

/// One client's connection to an ``NBDServer``, served by the handlers
/// ``NBDServer/configure(_:)`` installed.
public struct NBDConnection: Sendable {
    public let channel: any Channel
    let finished: EventLoopFuture<Void>

    /// Waits until the client is gone and every request of it has finished.
    /// Cancelling the waiting task closes the connection, so a server that
    /// stops can wait for its connections to wind down.
    public func run() async {
        await withTaskCancellationHandler {
            try? await finished.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}
