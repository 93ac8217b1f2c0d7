import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// `serve --metrics`: a small HTTP server that answers `GET /metrics` with
/// the registry's figures in Prometheus's text format, and 404 to anything
/// else. Each scrape is answered on the event loop: exporting is quick.
///
/// Any local process can reach it, so nothing a client does may grow it:
/// at most ``maximumConnections`` connections (more are closed at once), a
/// request must arrive whole within ``requestDeadline`` of the last answer
/// (idle and trickling clients are dropped), and a client that does not
/// read its answers is not read from either (``ScrapeHandler``).
struct MetricsEndpoint {
    let channel: any Channel
    /// The address as bound (port 0 becomes the real port).
    let host: String
    let port: Int

    /// Prometheus scrapes one connection at a time; a few more leave room
    /// for a person with curl.
    static let maximumConnections = 16
    static let requestDeadline: TimeAmount = .seconds(10)
    /// Answers queued for a slow reader, at most, before requests wait.
    static let writeBufferWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 32 << 10, high: 64 << 10)

    /// Listens at `host` (numeric, already checked) and `port`; `export`
    /// gives the body of each scrape.
    static func bind(host: String, port: Int, export: @escaping @Sendable () -> [UInt8]) async throws -> MetricsEndpoint {
        let connections = ConnectionCount(limit: maximumConnections)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: writeBufferWaterMark)
            .childChannelInitializer { channel in
                guard connections.admit(channel) else { return channel.close() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ScrapeHandler(export: export, deadline: requestDeadline))
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

/// Answers one connection's requests, in order, while the client takes
/// the answers: when the socket backs up, requests already parsed wait and
/// nothing more is read, so a client that pipelines requests and never
/// reads costs at most the write buffer's high mark.
private final class ScrapeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let export: @Sendable () -> [UInt8]
    private let deadline: TimeAmount
    private var request: HTTPRequestHead?
    private var waiting: [HTTPRequestHead] = []
    private var heldRead = false
    private var expiry: Scheduled<Void>?

    init(export: @escaping @Sendable () -> [UInt8], deadline: TimeAmount) {
        self.export = export
        self.deadline = deadline
    }

    func handlerAdded(context: ChannelHandlerContext) {
        restartDeadline(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        expiry?.cancel()
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
            waiting.append(head)
            answerWaiting(context: context)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        answerWaiting(context: context)
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if waiting.isEmpty && context.channel.isWritable {
            context.read()
        } else {
            heldRead = true
        }
    }

    private func answerWaiting(context: ChannelHandlerContext) {
        while context.channel.isWritable, !waiting.isEmpty {
            respond(to: waiting.removeFirst(), context: context)
            restartDeadline(context: context)
        }
        if heldRead, waiting.isEmpty, context.channel.isWritable {
            heldRead = false
            context.read()
        }
    }

    /// The next request must be whole within the deadline from now.
    private func restartDeadline(context: ChannelHandlerContext) {
        expiry?.cancel()
        let channel = context.channel
        expiry = context.eventLoop.scheduleTask(in: deadline) { channel.close(promise: nil) }
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
