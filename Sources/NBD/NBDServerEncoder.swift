import NIOCore

/// Lays out ``NBDServerMessage``s on the wire.
///
/// A message's fixed fields go into a small header buffer and its data is
/// written after it as it already is, so a READ's bytes are never copied
/// here: the socket gathers a header and a buffer in one `writev`, and sends
/// a file region with `sendfile`.
public final class NBDServerEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = NBDServerMessage
    public typealias OutboundOut = IOData

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var header = context.channel.allocator.buffer(capacity: 32)
        guard let payload = header.writeHeader(of: unwrapOutboundIn(data)), payload.readableBytes > 0 else {
            context.write(wrapOutboundOut(.byteBuffer(header)), promise: promise)
            return
        }
        context.write(wrapOutboundOut(.byteBuffer(header)), promise: nil)
        context.write(wrapOutboundOut(payload), promise: promise)
    }
}

extension ByteBuffer {
    /// Writes everything of `message` but its data, and returns the data.
    mutating func writeHeader(of message: NBDServerMessage) -> IOData? {
        switch message {
        case .greeting:
            writeInteger(NBDProtocol.nbdMagic)
            writeInteger(NBDProtocol.optionMagic)
            writeInteger(NBDProtocol.fixedNewstyle | NBDProtocol.noZeroes)
            return nil
        case let .optionReply(option, type, data):
            writeInteger(NBDProtocol.optionReplyMagic)
            writeInteger(option)
            writeInteger(type)
            writeInteger(UInt32(data.readableBytes))
            return .byteBuffer(data)
        case let .exportName(size, flags, padWithZeroes):
            writeInteger(size)
            writeInteger(flags)
            if padWithZeroes {
                writeRepeatingByte(0, count: 124)
            }
            return nil
        case let .reply(reply):
            return writeHeader(of: reply)
        }
    }
}
