import NIOCore
import NIOHTTP1
import NIOPosix

/// `serve --metrics`: a small HTTP server that answers `GET /metrics` with
/// the registry's figures in Prometheus's text format, and 404 to anything
/// else. Each scrape is answered on the event loop: exporting is quick.
struct MetricsEndpoint {
    let channel: any Channel
    /// The address as bound (port 0 becomes the real port).
    let host: String
    let port: Int

    /// Listens at `host` (numeric, already checked) and `port`; `export`
    /// gives the body of each scrape.
    static func bind(host: String, port: Int, export: @escaping @Sendable () -> [UInt8]) async throws -> MetricsEndpoint {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ScrapeHandler(export: export))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            throw CommandError("cannot listen for --metrics on \(host) port \(port): \(error)")
        }
        return MetricsEndpoint(channel: channel, host: host, port: channel.localAddress?.port ?? port)
    }

    var url: String {
        "http://\(host.contains(":") ? "[\(host)]" : host):\(port)/metrics"
    }

    func close() async {
        try? await channel.close()
    }
}

/// Answers one connection's requests, in order.
private final class ScrapeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let export: @Sendable () -> [UInt8]
    private var request: HTTPRequestHead?

    init(export: @escaping @Sendable () -> [UInt8]) {
        self.export = export
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let (status, contentType, body): (HTTPResponseStatus, String, [UInt8]) = switch (head.method, path) {
        case (.GET, "/metrics"), (.HEAD, "/metrics"): (.ok, "text/plain; version=0.0.4; charset=utf-8", export())
        case (_, "/metrics"): (.methodNotAllowed, "text/plain", Array("use GET\n".utf8))
        default: (.notFound, "text/plain", Array("lazydisk serves its metrics at /metrics\n".utf8))
        }
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", "\(body.count)")])
        if !head.isKeepAlive {
            headers.add(name: "Connection", value: "close")
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !head.isKeepAlive {
            let channel = context.channel
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
