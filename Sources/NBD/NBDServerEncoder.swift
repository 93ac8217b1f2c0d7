import NIOCore

/// Lays out ``NBDServerMessage``s on the wire.
public struct NBDServerEncoder: MessageToByteEncoder {
    public typealias OutboundIn = NBDServerMessage

    public init() {}

    public func encode(data message: NBDServerMessage, out: inout ByteBuffer) throws {
        switch message {
        case .greeting:
            out.writeInteger(NBDProtocol.nbdMagic)
            out.writeInteger(NBDProtocol.optionMagic)
            out.writeInteger(NBDProtocol.fixedNewstyle | NBDProtocol.noZeroes)
        case let .optionReply(option, type, data):
            out.writeInteger(NBDProtocol.optionReplyMagic)
            out.writeInteger(option)
            out.writeInteger(type)
            out.writeInteger(UInt32(data.readableBytes))
            out.writeImmutableBuffer(data)
        case let .exportName(size, flags, padWithZeroes):
            out.writeInteger(size)
            out.writeInteger(flags)
            if padWithZeroes {
                out.writeRepeatingByte(0, count: 124)
            }
        case let .simpleReply(error, cookie, data):
            out.writeInteger(NBDProtocol.simpleReplyMagic)
            out.writeInteger(error)
            out.writeInteger(cookie)
            if let data {
                out.writeImmutableBuffer(data)
            }
        case let .structuredReply(flags, type, cookie, data):
            out.writeInteger(NBDProtocol.structuredReplyMagic)
            out.writeInteger(flags)
            out.writeInteger(type)
            out.writeInteger(cookie)
            out.writeInteger(UInt32(data.readableBytes))
            out.writeImmutableBuffer(data)
        }
    }
}
