import NIOCore

/// What a client sends, as the decoder frames it.
public enum NBDClientMessage: Sendable, Equatable {
    /// The client's 32-bit flags, right after the server's greeting.
    case clientFlags(UInt32)
    /// A handshake option with its raw payload.
    case option(code: UInt32, data: ByteBuffer)
    /// A transmission request; `payload` is the data of a WRITE.
    case request(NBDRequest)
}

/// One transmission-phase request.
public struct NBDRequest: Sendable, Equatable {
    public var flags: UInt16
    /// The raw command type; ``command`` is `nil` for types this server does
    /// not know.
    public var type: UInt16
    public var cookie: UInt64
    public var offset: UInt64
    public var length: UInt32
    public var payload: ByteBuffer?

    public var command: NBDCommand? { NBDCommand(rawValue: type) }
}
