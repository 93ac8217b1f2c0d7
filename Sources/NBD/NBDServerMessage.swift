import NIOCore

/// What the server sends, before the encoder lays it out on the wire.
public enum NBDServerMessage: Sendable, Equatable {
    /// `NBDMAGIC`, `IHAVEOPT` and the handshake flags.
    case greeting
    /// An option reply: the option it answers, the reply type, its data.
    case optionReply(option: UInt32, type: UInt32, data: ByteBuffer)
    /// The old-style answer to NBD_OPT_EXPORT_NAME.
    case exportName(size: UInt64, flags: UInt16, padWithZeroes: Bool)
    /// The answer to a transmission-phase request.
    case reply(NBDReply)
}
