import LayeredDisk
import NIOCore

/// Serves one export over NBD connections: the handshake through
/// ``NBDHandshake``, then requests through ``NBDTransmission``, many at a time
/// with replies in completion order.
///
/// A connection that breaks the protocol (bad magic, oversized payload,
/// garbage) is closed; other connections never notice.
public struct NBDServer: Sendable {
    public let export: NBDExport
    /// Requests a connection may have in flight; more wait for a reply to go.
    public var maximumInFlight = 64

    public init(export: NBDExport) {
        self.export = export
    }

    /// Installs the codec on a fresh connection and wraps it for ``serve(_:)``.
    /// Call on the channel's event loop (a child channel initializer).
    public static func configure(_ channel: any Channel) throws -> NIOAsyncChannel<NBDClientMessage, NBDServerMessage> {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(NBDServerDecoder()))
        try channel.pipeline.syncOperations.addHandler(NBDServerEncoder())
        return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
    }

    /// Runs one connection to its end, on the connection's event loop.
    public func serve(_ connection: NIOAsyncChannel<NBDClientMessage, NBDServerMessage>) async {
        await withTaskExecutorPreference(EventLoopExecutor(connection.channel.eventLoop)) {
            await handle(connection)
        }
    }

    private func handle(_ connection: NIOAsyncChannel<NBDClientMessage, NBDServerMessage>) async {
        try? await connection.executeThenClose { inbound, outbound in
            try await outbound.write(.greeting)
            var messages = inbound.makeAsyncIterator()
            var handshake = NBDHandshake(export: export)
            var transmission: NBDTransmission?
            while transmission == nil, let message = try await messages.next() {
                let action = handshake.receive(message)
                try await outbound.write(contentsOf: action.replies)
                switch action.next {
                case .awaitOption:
                    continue
                case .close:
                    return
                case let .transmission(structuredReplies, baseAllocation):
                    transmission = NBDTransmission(disk: export.disk, structuredReplies: structuredReplies, baseAllocation: baseAllocation)
                }
            }
            guard let transmission else { return }
            let batch = NBDReplyBatch()
            try await withThrowingTaskGroup(of: Void.self) { group in
                var inFlight = 0
                while let message = try await messages.next() {
                    guard case let .request(request) = message else {
                        throw NBDProtocolError.unexpectedMessage("handshake message during transmission")
                    }
                    if request.command == .disconnect {
                        break
                    }
                    if inFlight == maximumInFlight {
                        try await group.next()
                        inFlight -= 1
                    }
                    group.addTask {
                        guard batch.add(await transmission.reply(to: request)) else { return }
                        // Requests that are ready finish first and join the batch.
                        await Task.yield()
                        try await outbound.write(contentsOf: batch.close())
                    }
                    inFlight += 1
                }
                try await group.waitForAll()
            }
        }
    }
}
