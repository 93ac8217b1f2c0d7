import NIOCore

/// One client's connection to an ``NBDServer``, served by the handlers
/// ``NBDServer/configure(_:)`` installed.
public struct NBDConnection: Sendable {
    public let channel: any Channel
    let finished: EventLoopFuture<Void>

    /// Tells a connection's handler that the server is stopping.
    struct DrainEvent: Sendable {}

    /// Waits until the client is gone and every request of it has finished.
    /// Cancelling the waiting task drains the connection: it reads no more
    /// requests, answers those it has read, then closes; so a server that
    /// stops loses no request a client already sent.
    public func run() async {
        await withTaskCancellationHandler {
            try? await finished.get()
        } onCancel: {
            channel.pipeline.fireUserInboundEventTriggered(DrainEvent())
        }
    }
}
