import LayeredDisk
import NIOCore

/// The answer to one transmission-phase request, as the server means it;
/// ``NBDServerEncoder`` lays it out as a simple reply or a structured reply
/// chunk, whichever the connection negotiated.
public struct NBDReply: Sendable, Equatable {
    /// The request's cookie, which the client matches replies by.
    public var cookie: UInt64
    public var body: Body
    /// Whether the client asked for structured replies (NBD_OPT_STRUCTURED_REPLY).
    public var isStructured: Bool

    public enum Body: Sendable, Equatable {
        /// The request succeeded and has nothing to return.
        case done
        /// A READ's bytes, which start at `offset` of the export: in a buffer,
        /// or a region of a file the socket sends from (`sendfile`).
        case data(offset: UInt64, bytes: IOData)
        /// The request failed; structured replies carry `message` too.
        case error(NBDErrno, message: String)
        /// BLOCK_STATUS's answer for the metadata context `contextID`.
        case blockStatus(contextID: UInt32, extents: [AllocationExtent])
    }

    public init(cookie: UInt64, body: Body, isStructured: Bool) {
        self.cookie = cookie
        self.body = body
        self.isStructured = isStructured
    }
}

extension ByteBuffer {
    /// Writes everything of `reply` but a READ's bytes, and returns those.
    mutating func writeHeader(of reply: NBDReply) -> IOData? {
        guard reply.isStructured else {
            writeInteger(NBDProtocol.simpleReplyMagic)
            switch reply.body {
            case let .error(errno, _): writeInteger(errno.rawValue)
            default: writeInteger(UInt32(0))
            }
            writeInteger(reply.cookie)
            if case let .data(_, bytes) = reply.body { return bytes }
            return nil
        }
        writeInteger(NBDProtocol.structuredReplyMagic)
        writeInteger(NBDReply.done)
        switch reply.body {
        case .done:
            writeChunkHeader(.none, cookie: reply.cookie, length: 0)
        case let .data(offset, bytes):
            writeChunkHeader(.offsetData, cookie: reply.cookie, length: MemoryLayout<UInt64>.size + bytes.readableBytes)
            writeInteger(offset)
            return bytes
        case let .error(errno, message):
            let text = message.utf8.prefix(Int(UInt16.max))
            writeChunkHeader(.error, cookie: reply.cookie, length: MemoryLayout<UInt32>.size + MemoryLayout<UInt16>.size + text.count)
            writeInteger(errno.rawValue)
            writeInteger(UInt16(text.count))
            writeBytes(text)
        case let .blockStatus(contextID, extents):
            writeChunkHeader(.blockStatus, cookie: reply.cookie, length: MemoryLayout<UInt32>.size * (1 + 2 * extents.count))
            writeInteger(contextID)
            for extent in extents {
                writeInteger(UInt32(extent.length))
                writeInteger(UInt32(extent.isHole ? 1 : 0) | UInt32(extent.isZero ? 2 : 0))
            }
        }
        return nil
    }

    /// A structured chunk's type, cookie and length, after its flags.
    private mutating func writeChunkHeader(_ type: NBDReplyType, cookie: UInt64, length: Int) {
        writeInteger(type.rawValue)
        writeInteger(cookie)
        writeInteger(UInt32(length))
    }
}

extension NBDReply {
    /// `NBD_REPLY_FLAG_DONE`: every reply is one chunk, so each is the last.
    static let done: UInt16 = 1
}
