import LayeredDisk
import NIOCore

/// Serves one NBD connection on its event loop: the handshake through
/// ``NBDHandshake``, then requests through ``NBDTransmission``, with
/// ``NBDRequestFlow`` deciding when each starts.
///
/// A read the disk serves at once (a cache hit) is answered right here, with
/// no task (a large one sent from the cache's file, not copied), and every
/// reply written while a socket read is handled goes out in one flush at
/// `channelReadComplete`. Any other request runs in a task on the
/// connection's event loop and is answered when it is done, in completion
/// order, as NBD allows; tasks that end in one run of the loop's jobs are
/// answered in one flush after it.
final class NBDConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = NBDClientMessage
    typealias OutboundIn = NBDServerMessage
    typealias OutboundOut = NBDServerMessage

    private let exports: any NBDExportCatalog
    private let metrics: NBDMetrics
    private let events: (any NBDServerEvents)?
    /// Who the client is, once it connected (told to ``events``).
    private var peer: String?
    private var state: State
    private var flow: NBDRequestFlow
    private let finished: EventLoopPromise<Void>
    private var executor: EventLoopExecutor?
    private var tasks: [Int: Task<Void, Never>] = [:]
    private var nextTaskID = 0
    /// Between `channelRead` and `channelReadComplete`, which flushes.
    private var isReading = false
    private var needsFlush = false
    /// A flush is queued on the loop behind the jobs it is running, so the
    /// replies of every task that ends in one run go out in one write.
    private var isFlushQueued = false
    /// A socket read asked for while requests wait, done once they start.
    private var heldRead = false
    private let handshakeTimeout: TimeAmount

    /// Where the connection is in its life.
    private enum State {
        /// Options are negotiated; unless that ends first, `expiry` closes
        /// the connection (set once the channel is active).
        case negotiating(NBDHandshake, expiry: Scheduled<Void>?)
        /// Requests to `export` are served.
        case transmitting(NBDTransmission, export: NBDExport)
        /// Every request is answered; the connection closes once the
        /// replies are written.
        case closing
        /// The channel is gone: what still runs is cancelled, and its
        /// replies are dropped.
        case closed
    }

    /// - Parameter finished: Succeeded once the connection is closed and no
    ///   task of it runs any more.
    init(
        exports: any NBDExportCatalog, maximumInFlight: Int, maximumBytesInFlight: Int, handshakeTimeout: TimeAmount, metrics: NBDMetrics,
        events: (any NBDServerEvents)?, finished: EventLoopPromise<Void>
    ) {
        self.handshakeTimeout = handshakeTimeout
        self.exports = exports
        self.metrics = metrics
        self.events = events
        state = .negotiating(NBDHandshake(exports: exports), expiry: nil)
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
        if case let .negotiating(handshake, _) = state {
            let expiry = context.eventLoop.scheduleTask(in: handshakeTimeout) { channel.close(promise: nil) }
            state = .negotiating(handshake, expiry: expiry)
        }
        context.fireChannelActive()
    }

    /// The channel closed (this comes even for one that never became
    /// active): what is still running is cancelled.
    func handlerRemoved(context: ChannelHandlerContext) {
        metrics.connectionClosed()
        if let peer {
            events?.clientDisconnected(peer)
        }
        switch state {
        case let .negotiating(_, expiry):
            expiry?.cancel()
        case let .transmitting(_, export):
            exports.disconnect(from: export)
        case .closing, .closed:
            break
        }
        state = .closed
        for task in tasks.values {
            task.cancel()
        }
        finishIfDone()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        isReading = true
        let message = unwrapInboundIn(data)
        switch state {
        case let .negotiating(handshake, expiry):
            negotiate(message, handshake: handshake, expiry: expiry, context: context)
        case .transmitting:
            guard case let .request(request) = message else {
                return context.close(promise: nil)
            }
            flow.receive(request)
            startRequests(context: context)
        case .closing, .closed:
            break
        }
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
        guard case .transmitting = state else { return context.close(promise: nil) }
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

    private func negotiate(
        _ message: NBDClientMessage, handshake: NBDHandshake, expiry: Scheduled<Void>?, context: ChannelHandlerContext
    ) {
        var handshake = handshake
        let action = handshake.receive(message)
        state = .negotiating(handshake, expiry: expiry)
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
            expiry?.cancel()
            guard let export = handshake.chosen else { return context.close(promise: nil) }
            state = .transmitting(NBDTransmission(
                disk: export.disk, allocation: export.allocation, structuredReplies: structuredReplies, baseAllocation: baseAllocation,
                metrics: metrics, events: events), export: export)
        }
    }

    /// Starts every request the flow lets start, then reads on or closes.
    /// Replies written go out now, unless `flushing` is false (the caller
    /// flushes) or a socket read is under way (its end flushes).
    private func startRequests(context: ChannelHandlerContext, flushing: Bool = true) {
        guard case let .transmitting(transmission, _) = state else { return }
        while let request = flow.nextRequest(canWrite: context.channel.isWritable) {
            var unused: ReplyData?
            if let reply = transmission.fileReply(to: request) ?? transmission.immediateReply(to: request, leaving: &unused) {
                write(reply, context: context)
            } else if let unused, bring(BroughtRead(request, into: unused), transmission, context: context) {
                flow.taskStarted(request)
            } else {
                startTask(transmission, request, context: context)
            }
        }
        if (flushing && !isReading) || flow.isFinished {
            flushIfNeeded(context: context)
        }
        if flow.isFinished {
            closeOnceWritten(context: context)
        } else if heldRead, flow.wantsRequests {
            heldRead = false
            context.read()
        }
    }

    /// Starts a READ whose missing bytes the disk's cache filler brings,
    /// with no task: it is answered on the loop once they are in (or by a
    /// task, when they are gone again before it reads them). False for any
    /// other read.
    private func bring(_ read: BroughtRead, _ transmission: NBDTransmission, context: ChannelHandlerContext) -> Bool {
        let eventLoop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        let boundContext = NIOLoopBound(context, eventLoop: eventLoop)
        let boundRead = NIOLoopBound(read, eventLoop: eventLoop)
        // The fetch runs on this loop's executor, so its bytes cross from
        // curl's thread to this one only, and `ready` is called here.
        return WaitingExecutor.$current.withValue(executor) {
            transmission.bring(read) { outcome in
                // Called on another thread, or before `bring` returned (a
                // fetch wrote the bytes already): answered later, on the loop.
                guard eventLoop.inEventLoop, boundRead.value.pending != nil else {
                    return eventLoop.execute {
                        handler.value.broughtReadIsReady(boundRead.value, transmission, outcome, context: boundContext.value)
                    }
                }
                handler.value.broughtReadIsReady(boundRead.value, transmission, outcome, context: boundContext.value)
            }
        }
    }

    private func broughtReadIsReady(
        _ read: BroughtRead, _ transmission: NBDTransmission, _ outcome: Result<Void, any Error>, context: ChannelHandlerContext
    ) {
        guard case .transmitting = state else { return finished(read.request, reply: nil, context: context) }
        guard let reply = transmission.reply(to: read, after: outcome) else {
            flow.taskFinished(read.request)
            return startTask(transmission, read.request, context: context)
        }
        finished(read.request, reply: reply, context: context)
    }

    private func startTask(_ transmission: NBDTransmission, _ request: NBDRequest, context: ChannelHandlerContext) {
        flow.taskStarted(request)
        let id = nextTaskID
        nextTaskID += 1
        let eventLoop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        let context = NIOLoopBound(context, eventLoop: eventLoop)
        tasks[id] = Task(executorPreference: executor) { [executor] in
            let reply = await WaitingExecutor.$current.withValue(executor) {
                await transmission.reply(to: request)
            }
            // The task runs on the loop (its executor is the loop's), so it
            // ends there without handing the loop a closure to run later.
            guard eventLoop.inEventLoop else {
                eventLoop.execute { handler.value.taskFinished(id, request, reply: reply, context: context.value) }
                return
            }
            handler.value.taskFinished(id, request, reply: reply, context: context.value)
        }
    }

    private func taskFinished(_ id: Int, _ request: NBDRequest, reply: OutgoingReply?, context: ChannelHandlerContext) {
        tasks[id] = nil
        finished(request, reply: reply, context: context)
    }

    /// A request that was in flight is answered with `reply`.
    private func finished(_ request: NBDRequest, reply: OutgoingReply?, context: ChannelHandlerContext) {
        flow.taskFinished(request)
        if case .transmitting = state {
            if let reply {
                write(reply, context: context)
            }
            startRequests(context: context, flushing: false)
            queueFlush(context: context)
        } else {
            reply?.written()
        }
        finishIfDone()
    }

    /// Tasks end in runs of the loop's jobs, several to a run when fetches
    /// arrive together: one flush after the run writes all their replies
    /// with one system call (and wakes the client once), not one each.
    private func queueFlush(context: ChannelHandlerContext) {
        guard needsFlush, !isFlushQueued else { return }
        isFlushQueued = true
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let context = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.value.eventLoop.execute {
            handler.value.isFlushQueued = false
            guard case .transmitting = handler.value.state else { return }
            handler.value.flushIfNeeded(context: context.value)
        }
    }

    /// Writes `reply`; one sent from a file is told once the socket took its
    /// bytes (or the write failed).
    private func write(_ reply: OutgoingReply, context: ChannelHandlerContext) {
        var written: EventLoopPromise<Void>?
        if reply.isSentFromFile {
            written = context.eventLoop.makePromise(of: Void.self)
            written?.futureResult.whenComplete { _ in reply.written() }
        }
        context.write(wrapOutboundOut(.reply(reply.reply)), promise: written)
        needsFlush = true
    }

    /// Closes once every reply is on the socket (or failed to get there),
    /// or the kernel would never see replies still queued in the channel.
    /// Closing the output waits for the writes before it (a promise per
    /// reply to find the last one cost an allocation a read).
    private func closeOnceWritten(context: ChannelHandlerContext) {
        guard case let .transmitting(_, export) = state else { return }
        exports.disconnect(from: export)
        state = .closing
        context.flush()
        let outputClosed = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: outputClosed)
        let context = NIOLoopBound(context, eventLoop: context.eventLoop)
        outputClosed.futureResult.whenComplete { _ in context.value.close(promise: nil) }
    }

    private func flushIfNeeded(context: ChannelHandlerContext) {
        guard needsFlush else { return }
        needsFlush = false
        context.flush()
    }

    private func finishIfDone() {
        guard case .closed = state, flow.inFlight == 0 else { return }
        finished.succeed()
    }
}
