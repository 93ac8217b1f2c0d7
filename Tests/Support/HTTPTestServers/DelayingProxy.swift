import NIOCore
import NIOPosix

/// A TCP proxy on loopback that holds back everything the upstream sends for
/// a fixed time: every response's first byte arrives that much later, as
/// from an object store tens of milliseconds away. With a rate, each
/// connection also delivers at most that many bytes a second, as an object
/// store's per-connection throughput; without one, bandwidth stays what the
/// upstream gives. Requests pass at once.
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
    /// `upstreamPort` on loopback, delaying what comes back by `delay` and,
    /// with `bytesPerSecond`, pacing it to that rate per connection.
    public static func start(upstreamPort: Int, delay: Duration, bytesPerSecond: Int? = nil, port: Int = 0) async throws -> DelayingProxy {
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
                        try upstream.pipeline.syncOperations.addHandler(Relay(partner: client, delay: hold, bytesPerSecond: bytesPerSecond))
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
/// after `delay` (and, with a rate, no sooner than the bytes before it and
/// these could pass at that rate), and closes the other side when this one
/// closes, after everything it read.
private final class Relay: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let partner: any Channel
    private let delay: TimeAmount
    private let bytesPerSecond: Int?
    /// When the bytes relayed so far have all gone out.
    private var drained = NIODeadline.uptimeNanoseconds(0)

    init(partner: any Channel, delay: TimeAmount, bytesPerSecond: Int? = nil) {
        self.partner = partner
        self.delay = delay
        self.bytesPerSecond = bytesPerSecond
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        var due = NIODeadline.now() + delay
        if let bytesPerSecond {
            due = max(due, drained) + .nanoseconds(Int64(bytes.readableBytes) * 1_000_000_000 / Int64(bytesPerSecond))
        }
        drained = max(drained, due)
        at(due, context) { $0.writeAndFlush(bytes, promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        at(max(NIODeadline.now() + delay, drained), context) { $0.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func at(_ deadline: NIODeadline, _ context: ChannelHandlerContext, _ action: @escaping @Sendable (any Channel) -> Void) {
        guard deadline > .now() else {
            action(partner)
            return
        }
        context.eventLoop.scheduleTask(deadline: deadline) { [partner] in action(partner) }
    }
}
