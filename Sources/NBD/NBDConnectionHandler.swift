import LayeredDisk
import NIOCore

/// Serves one NBD connection on its event loop: the handshake through
/// ``NBDHandshake``, then requests through ``NBDTransmission``, with
/// ``NBDRequestFlow`` deciding when each starts.
///
/// A read the disk serves at once (a cache hit) is answered right here, with
/// no task, and every reply written while a socket read is handled goes out in
/// one flush at `channelReadComplete`. Any other request runs in a task on the
/// connection's event loop and is answered when it is done, in completion
/// order, as NBD allows.
final class NBDConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = NBDClientMessage
    typealias OutboundIn = NBDServerMessage
    typealias OutboundOut = NBDServerMessage

    private let export: NBDExport
    private let metrics: NBDMetrics
    private let events: (any NBDServerEvents)?
    /// Who the client is, once it connected (told to ``events``).
    private var peer: String?
    private var handshake: NBDHandshake
    private var transmission: NBDTransmission?
    private var flow: NBDRequestFlow
    private let finished: EventLoopPromise<Void>
    private var executor: EventLoopExecutor?
    private var tasks: [Int: Task<Void, Never>] = [:]
    private var nextTaskID = 0
    /// Between `channelRead` and `channelReadComplete`, which flushes.
    private var isReading = false
    private var needsFlush = false
    /// A socket read asked for while requests wait, done once they start.
    private var heldRead = false
    private var isClosed = false
    /// Completes once every reply written so far has reached the socket:
    /// a connection that ends closes after it, or the kernel would never
    /// see replies still queued in the channel.
    private var lastWrite: EventLoopFuture<Void>?
    private var isClosing = false
    private let handshakeTimeout: TimeAmount
    /// Closes the connection unless the handshake is over by then.
    private var handshakeExpiry: Scheduled<Void>?

    /// - Parameter finished: Succeeded once the connection is closed and no
    ///   task of it runs any more.
    init(
        export: NBDExport, maximumInFlight: Int, maximumBytesInFlight: Int, handshakeTimeout: TimeAmount, metrics: NBDMetrics,
        events: (any NBDServerEvents)?, finished: EventLoopPromise<Void>
    ) {
        self.handshakeTimeout = handshakeTimeout
        self.export = export
        self.metrics = metrics
        self.events = events
        handshake = NBDHandshake(export: export)
        flow = NBDRequestFlow(maximumInFlight: maximumInFlight, maximumBytesInFlight: maximumBytesInFlight)
        self.finished = finished
    }

    func handlerAdded(context: ChannelHandlerContext) {
        executor = EventLoopExecutor(context.eventLoop)
        metrics.connectionOpened()
    }

    func channelActive(context: ChannelHandlerContext) {
        let peer = context.channel.remoteAddress.map { "\($0)" } ?? "a client"
        self.peer = peer
        events?.clientConnected(peer)
        context.writeAndFlush(wrapOutboundOut(.greeting), promise: nil)
        let channel = context.channel
        handshakeExpiry = context.eventLoop.scheduleTask(in: handshakeTimeout) { channel.close(promise: nil) }
        context.fireChannelActive()
    }

    /// The channel closed (this comes even for one that never became
    /// active): what is still running is cancelled.
    func handlerRemoved(context: ChannelHandlerContext) {
        metrics.connectionClosed()
        if let peer {
            events?.clientDisconnected(peer)
        }
        isClosed = true
        handshakeExpiry?.cancel()
        for task in tasks.values {
            task.cancel()
        }
        finishIfDone()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        isReading = true
        let message = unwrapInboundIn(data)
        guard transmission != nil else { return negotiate(message, context: context) }
        guard case let .request(request) = message else {
            return context.close(promise: nil)
        }
        flow.receive(request)
        startRequests(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        isReading = false
        flushIfNeeded(context: context)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        startRequests(context: context)
        context.fireChannelWritabilityChanged()
    }

    /// ``NBDConnection/DrainEvent``: answer what was read, then close.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is NBDConnection.DrainEvent else { return context.fireUserInboundEventTriggered(event) }
        guard transmission != nil else { return context.close(promise: nil) }
        flow.drain()
        startRequests(context: context)
    }

    func read(context: ChannelHandlerContext) {
        if flow.wantsRequests {
            context.read()
        } else {
            heldRead = true
        }
    }

    /// A protocol error (bad magic, an oversized payload) ends the connection.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func negotiate(_ message: NBDClientMessage, context: ChannelHandlerContext) {
        let action = handshake.receive(message)
        for reply in action.replies {
            context.write(wrapOutboundOut(reply), promise: nil)
        }
        context.flush()
        switch action.next {
        case .awaitOption:
            break
        case .close:
            context.close(promise: nil)
        case let .transmission(structuredReplies, baseAllocation):
            handshakeExpiry?.cancel()
            transmission = NBDTransmission(
                disk: export.disk, allocation: export.allocation, structuredReplies: structuredReplies, baseAllocation: baseAllocation,
                metrics: metrics, events: events)
        }
    }

    /// Starts every request the flow lets start, then reads on or closes.
    private func startRequests(context: ChannelHandlerContext) {
        guard let transmission else { return }
        while let request = flow.nextRequest(canWrite: context.channel.isWritable) {
            if let replies = transmission.immediateReply(to: request) {
                write(replies, context: context)
            } else {
                startTask(transmission, request, context: context)
            }
        }
        if !isReading || flow.isFinished {
            flushIfNeeded(context: context)
        }
        if flow.isFinished {
            closeOnceWritten(context: context)
        } else if heldRead, flow.wantsRequests {
            heldRead = false
            context.read()
        }
    }

    private func startTask(_ transmission: NBDTransmission, _ request: NBDRequest, context: ChannelHandlerContext) {
        flow.taskStarted(request)
        let id = nextTaskID
        nextTaskID += 1
        let eventLoop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        let context = NIOLoopBound(context, eventLoop: eventLoop)
        tasks[id] = Task(executorPreference: executor) { [executor] in
            let replies = await WaitingExecutor.$current.withValue(executor) {
                await transmission.reply(to: request)
            }
            eventLoop.execute {
                handler.value.taskFinished(id, request, replies: replies, context: context.value)
            }
        }
    }

    private func taskFinished(_ id: Int, _ request: NBDRequest, replies: [NBDServerMessage], context: ChannelHandlerContext) {
        tasks[id] = nil
        flow.taskFinished(request)
        if !isClosed {
            write(replies, context: context)
            startRequests(context: context)
        }
        finishIfDone()
    }

    private func write(_ replies: [NBDServerMessage], context: ChannelHandlerContext) {
        guard let last = replies.last else { return }
        for reply in replies.dropLast() {
            context.write(wrapOutboundOut(reply), promise: nil)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.write(wrapOutboundOut(last), promise: written)
        lastWrite = written.futureResult
        needsFlush = true
    }

    /// Closes once every reply is on the socket (or failed to get there).
    private func closeOnceWritten(context: ChannelHandlerContext) {
        guard !isClosing else { return }
        isClosing = true
        context.flush()
        guard let lastWrite else { return context.close(promise: nil) }
        let context = NIOLoopBound(context, eventLoop: context.eventLoop)
        lastWrite.whenComplete { _ in context.value.close(promise: nil) }
    }

    private func flushIfNeeded(context: ChannelHandlerContext) {
        guard needsFlush else { return }
        needsFlush = false
        context.flush()
    }

    private func finishIfDone() {
        guard isClosed, flow.inFlight == 0 else { return }
        finished.succeed()
    }
}
