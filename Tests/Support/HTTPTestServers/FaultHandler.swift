import NIOCore
import NIOHTTP1

/// Answers one connection's requests for the ``FaultServer``, faults included.
final class FaultHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: FaultState
    private var request: HTTPRequestHead?

    init(state: FaultState) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            request = head
        case .body:
            break
        case .end:
            if let request {
                answer(request, context: context)
            }
            request = nil
        }
    }

    /// What to send back, decided before anything is sent so the request is
    /// logged before the client can see the answer.
    private struct Reply {
        enum Delivery {
            case whole
            /// Promise the whole body, send half, close the connection.
            case disconnectHalfway
            /// One byte every 100 ms.
            case trickle
            /// The whole reply, after a pause.
            case delayed(milliseconds: Int)
        }

        var status: HTTPResponseStatus
        var headers: HTTPHeaders = [:]
        var body: ArraySlice<UInt8> = []
        var delivery = Delivery.whole
    }

    private func answer(_ request: HTTPRequestHead, context: ChannelHandlerContext) {
        let reply = reply(to: request)
        state.record(FaultServer.LoggedRequest(
            method: request.method.rawValue, uri: request.uri,
            range: request.headers.first(name: "range"), ifMatch: request.headers.first(name: "if-match"),
            authorization: request.headers.first(name: "authorization"),
            headers: Dictionary(request.headers.map { ($0.name.lowercased(), $0.value) }) { $1 },
            status: Int(reply.status.code)))
        guard state.fault != .neverAnswers else { return }
        let isProbe = request.headers.first(name: "range") == "bytes=0-0"
        let heldFault: FaultServer.Fault = request.method == .HEAD ? .headHeldUntilReleased : isProbe ? .probeHeldUntilReleased : .heldUntilReleased
        if state.fault == heldFault {
            let loop = context.eventLoop
            let held = NIOLoopBound((handler: self, context: context), eventLoop: loop)
            if state.hold({ loop.execute { held.value.handler.deliver(reply, context: held.value.context) } }) {
                return
            }
        }
        deliver(reply, context: context)
    }

    private func reply(to request: HTTPRequestHead) -> Reply {
        let path = String(request.uri.prefix { $0 != "?" })
        if let location = redirect(for: path) {
            return Reply(status: .found, headers: ["Location": location])
        }
        guard servesObject(path: path, uri: request.uri) else {
            guard state.fault == .expiringLinks && path == "/signed" else { return Reply(status: .notFound) }
            // As S3 answers a presigned URL past its expiry.
            return Reply(status: .forbidden, body: ArraySlice(Self.expiredLinkDocument.utf8))
        }
        return objectReply(to: request)
    }

    private static let expiredLinkDocument =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"

    private func redirect(for path: String) -> String? {
        switch state.fault {
        case let .redirectChain(hops) where path == "/image":
            hops > 0 ? "/hop1" : "/final"
        case let .redirectChain(hops) where path.hasPrefix("/hop"):
            Int(path.dropFirst(4)).map { $0 < hops ? "/hop\($0 + 1)" : "/final" }
        case .expiringLinks where path == "/image":
            "/signed?v=\(state.issueLink())"
        case let .redirectTo(location) where path == "/image":
            location
        default:
            nil
        }
    }

    private func servesObject(path: String, uri: String) -> Bool {
        switch state.fault {
        case .redirectChain: path == "/final"
        case .expiringLinks: path == "/signed" && Int(uri.split(separator: "=").last ?? "").map(state.isValidLink) == true
        default: path == "/image"
        }
    }

    private func objectReply(to request: HTTPRequestHead) -> Reply {
        let object = object(for: request.uri)
        let size = object.content.count
        var headers: HTTPHeaders = ["Accept-Ranges": "bytes"]
        headers.add(contentsOf: validators(of: object))
        if case let .contentEncoding(coding) = state.fault {
            headers.add(name: "Content-Encoding", value: coding)
        }
        if case let .reportsSize(reported) = state.fault {
            if request.method == .HEAD {
                headers.add(name: "Content-Length", value: "\(reported)")
                return Reply(status: .ok, headers: headers)
            }
            headers.add(name: "Content-Range", value: "bytes 0-0/\(reported)")
            return Reply(status: .partialContent, headers: headers, body: object.content.prefix(1))
        }
        if request.method == .HEAD {
            guard state.fault != .refusesHead else { return Reply(status: .forbidden) }
            var headHeaders = headers
            headHeaders.add(name: "Content-Length", value: "\(size)")
            if case let .headETag(etag) = state.fault {
                headHeaders.replaceOrAdd(name: "ETag", value: etag)
            }
            return Reply(status: .ok, headers: headHeaders)
        }
        if let ifMatch = request.headers.first(name: "if-match"), ifMatch != validators(of: object).first(name: "ETag") {
            return Reply(status: .preconditionFailed)
        }
        if case .ignoresRangeCuttingDownloads = state.fault {
            var reply = Reply(status: .ok, headers: headers, body: object.content[...])
            if request.headers.first(name: "range") == nil, state.takeFaultyGET(range: 0...max(0, size - 1)) {
                reply.delivery = .disconnectHalfway
            }
            return reply
        }
        guard let range = request.headers.first(name: "range").flatMap({ Self.parseRange($0, size: size) }), state.fault != .ignoresRange else {
            return Reply(status: .ok, headers: headers, body: object.content[...])
        }
        guard range.lowerBound < size else {
            return Reply(status: .rangeNotSatisfiable, headers: ["Content-Range": "bytes */\(size)"])
        }
        let wanted = range.lowerBound...min(range.upperBound, size - 1)
        var reply = Reply(status: .partialContent, headers: headers, body: object.content[wanted])
        reply.headers.add(name: "Content-Range", value: "bytes \(wanted.lowerBound)-\(wanted.upperBound)/\(size)")
        switch state.fault {
        case .wrongContentRange:
            reply.headers.replaceOrAdd(name: "Content-Range", value: "bytes \(wanted.lowerBound + 1)-\(wanted.upperBound + 1)/\(size)")
        case .shortBody where state.takeFaultyGET(range: wanted):
            reply.body = reply.body.prefix(reply.body.count / 2)
        case .disconnectMidBody where state.takeFaultyGET(range: wanted):
            reply.delivery = .disconnectHalfway
        case .serverError where state.takeFaultyGET(range: wanted):
            return Reply(status: .internalServerError)
        case let .tooManyRequests(_, seconds) where state.takeFaultyGET(range: wanted):
            return Reply(status: .tooManyRequests, headers: ["Retry-After": "\(seconds)"])
        case .trickle:
            reply.delivery = .trickle
        case let .firstByteDelay(milliseconds):
            reply.delivery = .delayed(milliseconds: milliseconds)
        default:
            break
        }
        return reply
    }

    private func deliver(_ reply: Reply, context: ChannelHandlerContext) {
        if case let .delayed(milliseconds) = reply.delivery {
            var now = reply
            now.delivery = .whole
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(milliseconds))) {
                self.deliver(now, context: context)
            }
            return
        }
        var headers = reply.headers
        if !headers.contains(name: "Content-Length") {
            headers.add(name: "Content-Length", value: "\(reply.body.count)")
        }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: reply.status, headers: headers))), promise: nil)
        switch reply.delivery {
        case .whole:
            if !reply.body.isEmpty {
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: reply.body)))), promise: nil)
            }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case .disconnectHalfway:
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: reply.body.prefix(reply.body.count / 2))))), promise: nil)
            context.close(promise: nil)
        case .trickle:
            context.flush()
            trickle(reply.body, context: context)
        case .delayed:
            preconditionFailure("delayed replies are delivered whole after their pause")
        }
    }

    /// Sends one byte every 100 ms until the body is out or the client left.
    private func trickle(_ body: ArraySlice<UInt8>, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        guard let byte = body.first else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: [byte])))), promise: nil)
        context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(100)) {
            self.trickle(body.dropFirst(), context: context)
        }
    }

    /// The object a request names: with ``FaultServer/Fault/objectsByQuery(_:)``
    /// one for each `id`, else the one object.
    private func object(for uri: String) -> FaultState.Object {
        var object = state.object
        if case .objectsByQuery = state.fault {
            let id = uri.split(separator: "?").last?.split(separator: "&")
                .first { $0.hasPrefix("id=") }.flatMap { Int($0.dropFirst(3)) } ?? 0
            object.content = object.content.map { $0 ^ UInt8(truncatingIfNeeded: id) }
            object.generation = id
        }
        return object
    }

    private func validators(of object: FaultState.Object) -> HTTPHeaders {
        guard case let .objectsByQuery(validators) = state.fault else {
            return ["ETag": object.etag, "Last-Modified": object.lastModified]
        }
        // Last-Modified is the same for every object, as objects uploaded in
        // the same second have: it cannot tell them apart.
        return switch validators {
        case .strongETag: ["ETag": object.etag, "Last-Modified": state.object.lastModified]
        case .weakETag: ["ETag": "W/" + object.etag, "Last-Modified": state.object.lastModified]
        case .lastModifiedOnly: ["Last-Modified": state.object.lastModified]
        case .none: [:]
        }
    }

    /// One range, as lazydisk sends them: `bytes=a-b`, or a suffix
    /// `bytes=-n` (the last n bytes of an object of `size`).
    private static func parseRange(_ header: String, size: Int) -> ClosedRange<Int>? {
        guard header.hasPrefix("bytes=") else { return nil }
        let bounds = header.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let last = Int(bounds[1]) else { return nil }
        if bounds[0].isEmpty {
            return last > 0 && size > 0 ? max(0, size - last)...size - 1 : nil
        }
        guard let first = Int(bounds[0]), first <= last else { return nil }
        return first...last
    }
}
