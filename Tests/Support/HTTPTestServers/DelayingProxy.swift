import NIOCore
import NIOPosix

/// A TCP proxy on loopback that holds back everything the upstream sends for
/// a fixed time: every response's first byte arrives that much later, as
/// from an object store tens of milliseconds away, while bandwidth stays
/// what the upstream gives. Requests pass at once.
///
/// Loopback answers in microseconds, where coalescing and readahead cannot
/// show what they are worth; benchmarks and tests put this in front of
/// nginx instead. (The kernel's netem would do it, but needs a module that
/// containers and CI machines often lack.)
public final class DelayingProxy: Sendable {
    public let port: Int
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup

    private init(port: Int, channel: any Channel, group: MultiThreadedEventLoopGroup) {
        self.port = port
        self.channel = channel
        self.group = group
    }

    /// Listens on `port` (0 picks a free one) and relays each connection to
    /// `upstreamPort` on loopback, delaying what comes back by `delay`.
    public static func start(upstreamPort: Int, delay: Duration, port: Int = 0) async throws -> DelayingProxy {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let hold = TimeAmount.nanoseconds(Int64(delay.components.seconds) * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { client in
                ClientBootstrap(group: client.eventLoop)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .connect(host: "127.0.0.1", port: upstreamPort)
                    .flatMapThrowing { upstream in
                        try client.pipeline.syncOperations.addHandler(Relay(partner: upstream, delay: .zero))
                        try upstream.pipeline.syncOperations.addHandler(Relay(partner: client, delay: hold))
                    }
            }
            .bind(host: "127.0.0.1", port: port)
            .get()
        guard let bound = channel.localAddress?.port else {
            throw ChannelError.unknownLocalAddress
        }
        return DelayingProxy(port: bound, channel: channel, group: group)
    }

    public func shutdown() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }
}

/// Writes what one side of a proxied connection reads to the other side,
/// after `delay`, and closes the other side when this one closes (after the
/// same delay, so nothing in flight is cut off).
private final class Relay: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let partner: any Channel
    private let delay: TimeAmount

    init(partner: any Channel, delay: TimeAmount) {
        self.partner = partner
        self.delay = delay
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        later(context) { $0.writeAndFlush(bytes, promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        later(context) { $0.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func later(_ context: ChannelHandlerContext, _ action: @escaping @Sendable (any Channel) -> Void) {
        guard delay > .zero else {
            action(partner)
            return
        }
        context.eventLoop.scheduleTask(in: delay) { [partner] in action(partner) }
    }
}
