/// Input that ends a connection: after it, the byte stream cannot be trusted
/// to be framed correctly.
public enum NBDProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    case badOptionMagic(UInt64)
    case badRequestMagic(UInt32)
    case optionTooLong(UInt32)
    case payloadTooLarge(UInt32)
    /// A message that does not belong in the current phase.
    case unexpectedMessage(String)

    public var description: String {
        switch self {
        case let .badOptionMagic(magic): "bad option magic 0x\(String(magic, radix: 16))"
        case let .badRequestMagic(magic): "bad request magic 0x\(String(magic, radix: 16))"
        case let .optionTooLong(length): "option of \(length) bytes is too long"
        case let .payloadTooLarge(length): "write payload of \(length) bytes exceeds \(NBDProtocol.maximumPayload)"
        case let .unexpectedMessage(what): "unexpected \(what)"
        }
    }
}
