import NIOCore

/// Frames the client's byte stream: its flags, then handshake options, then
/// transmission requests (with a WRITE's payload).
///
/// The decoder moves to the transmission phase after NBD_OPT_EXPORT_NAME or
/// NBD_OPT_GO, because this server either accepts those or closes the
/// connection. Anything it cannot frame (bad magic, oversized lengths) is
/// thrown and ends the connection, and only that connection.
public struct NBDServerDecoder: ByteToMessageDecoder {
    public typealias InboundOut = NBDClientMessage

    private enum Phase {
        case clientFlags
        case options
        case transmission
    }

    private var phase = Phase.clientFlags

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let message = try next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }

    /// The next whole message in `buffer`, or `nil` when more bytes are needed.
    mutating func next(from buffer: inout ByteBuffer) throws -> NBDClientMessage? {
        switch phase {
        case .clientFlags:
            guard let flags = buffer.readInteger(as: UInt32.self) else { return nil }
            phase = .options
            return .clientFlags(flags)
        case .options:
            guard let (magic, code, length) = buffer.getOptionHeader() else { return nil }
            guard magic == NBDProtocol.optionMagic else { throw NBDProtocolError.badOptionMagic(magic) }
            guard length <= NBDProtocol.maximumOptionLength else { throw NBDProtocolError.optionTooLong(length) }
            guard buffer.readableBytes >= 16 + Int(length) else { return nil }
            buffer.moveReaderIndex(forwardBy: 16)
            let data = buffer.readSlice(length: Int(length))!
            if code == NBDOption.exportName.rawValue || code == NBDOption.go.rawValue {
                phase = .transmission
            }
            return .option(code: code, data: data)
        case .transmission:
            guard let header = buffer.getRequestHeader() else { return nil }
            guard header.magic == NBDProtocol.requestMagic else { throw NBDProtocolError.badRequestMagic(header.magic) }
            var request = NBDRequest(flags: header.flags, type: header.type, cookie: header.cookie, offset: header.offset,
                                     length: header.length, payload: nil)
            if request.command == .write {
                guard request.length <= NBDProtocol.maximumPayload else { throw NBDProtocolError.payloadTooLarge(request.length) }
                guard buffer.readableBytes >= 28 + Int(request.length) else { return nil }
                buffer.moveReaderIndex(forwardBy: 28)
                request.payload = buffer.readSlice(length: Int(request.length))
            } else {
                buffer.moveReaderIndex(forwardBy: 28)
            }
            return .request(request)
        }
    }
}

extension ByteBuffer {
    /// Magic, option code and length, without consuming them.
    fileprivate func getOptionHeader() -> (UInt64, UInt32, UInt32)? {
        guard let magic = getInteger(at: readerIndex, as: UInt64.self),
              let code = getInteger(at: readerIndex + 8, as: UInt32.self),
              let length = getInteger(at: readerIndex + 12, as: UInt32.self)
        else { return nil }
        return (magic, code, length)
    }

    /// The 28-byte request header, without consuming it.
    fileprivate func getRequestHeader() -> (magic: UInt32, flags: UInt16, type: UInt16, cookie: UInt64, offset: UInt64, length: UInt32)? {
        guard readableBytes >= 28,
              let magic = getInteger(at: readerIndex, as: UInt32.self),
              let flags = getInteger(at: readerIndex + 4, as: UInt16.self),
              let type = getInteger(at: readerIndex + 6, as: UInt16.self),
              let cookie = getInteger(at: readerIndex + 8, as: UInt64.self),
              let offset = getInteger(at: readerIndex + 16, as: UInt64.self),
              let length = getInteger(at: readerIndex + 24, as: UInt32.self)
        else { return nil }
        return (magic, flags, type, cookie, offset, length)
    }
}
