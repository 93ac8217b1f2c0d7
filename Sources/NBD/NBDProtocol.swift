/// Numbers of the NBD protocol (the NBD project's doc/proto.md). All values on
/// the wire are big-endian.
public enum NBDProtocol {
    static let nbdMagic: UInt64 = 0x4E42_444D_4147_4943
    static let optionMagic: UInt64 = 0x4948_4156_454F_5054
    static let optionReplyMagic: UInt64 = 0x0003_E889_0455_65A9
    static let requestMagic: UInt32 = 0x2560_9513
    static let simpleReplyMagic: UInt32 = 0x6744_6698
    static let structuredReplyMagic: UInt32 = 0x668E_33EF

    /// Handshake flags the server sends.
    static let fixedNewstyle: UInt16 = 1 << 0
    static let noZeroes: UInt16 = 1 << 1

    /// The largest option payload accepted; option data is small in practice.
    static let maximumOptionLength: UInt32 = 64 * 1024
    /// The largest READ or WRITE payload, also advertised in INFO_BLOCK_SIZE.
    public static let maximumPayload: UInt32 = 32 << 20
}

/// Handshake options (`NBD_OPT_*`).
enum NBDOption: UInt32 {
    case exportName = 1
    case abort = 2
    case list = 3
    case startTLS = 5
    case info = 6
    case go = 7
    case structuredReply = 8
    case listMetaContext = 9
    case setMetaContext = 10
}

/// Option reply types (`NBD_REP_*`).
enum NBDOptionReply: UInt32 {
    case ack = 1
    case server = 2
    case info = 3
    case metaContext = 4
    case errorUnsupported = 0x8000_0001
    case errorPolicy = 0x8000_0002
    case errorInvalid = 0x8000_0003
    case errorPlatform = 0x8000_0004
    case errorTLSRequired = 0x8000_0005
    case errorUnknown = 0x8000_0006
}

/// `NBD_INFO_*` items in INFO/GO replies.
enum NBDInfo: UInt16 {
    case export = 0
    case name = 1
    case description = 2
    case blockSize = 3
}

/// Transmission flags (`NBD_FLAG_*`) advertised per export.
struct NBDTransmissionFlags: OptionSet {
    let rawValue: UInt16
    static let hasFlags = Self(rawValue: 1 << 0)
    static let readOnly = Self(rawValue: 1 << 1)
    static let sendFlush = Self(rawValue: 1 << 2)
    static let sendFUA = Self(rawValue: 1 << 3)
    static let rotational = Self(rawValue: 1 << 4)
    static let sendTrim = Self(rawValue: 1 << 5)
    static let sendWriteZeroes = Self(rawValue: 1 << 6)
    static let sendDF = Self(rawValue: 1 << 7)
    static let canMultiConn = Self(rawValue: 1 << 8)
    static let sendCache = Self(rawValue: 1 << 10)
}

/// Command flags (`NBD_CMD_FLAG_*`).
struct NBDCommandFlags: OptionSet, Sendable {
    let rawValue: UInt16
    static let fua = Self(rawValue: 1 << 0)
    static let noHole = Self(rawValue: 1 << 1)
    static let dontFragment = Self(rawValue: 1 << 2)
    static let requestOne = Self(rawValue: 1 << 3)
    static let fastZero = Self(rawValue: 1 << 4)
    static let known: Self = [.fua, .noHole, .dontFragment, .requestOne, .fastZero]
}

/// Transmission commands (`NBD_CMD_*`).
public enum NBDCommand: UInt16, Sendable, CaseIterable {
    case read = 0
    case write = 1
    case disconnect = 2
    case flush = 3
    case trim = 4
    case cache = 5
    case writeZeroes = 6
    case blockStatus = 7
}

/// Error numbers sent in replies (Linux values, as the protocol fixes them).
public enum NBDErrno: UInt32, Sendable {
    case permission = 1
    case io = 5
    case noMemory = 12
    case invalid = 22
    case noSpace = 28
    case overflow = 75
    case notSupported = 95
    case shutdown = 108
}

/// Structured reply chunk types (`NBD_REPLY_TYPE_*`).
enum NBDReplyType: UInt16 {
    case none = 0
    case offsetData = 1
    case blockStatus = 5
    case error = 0x8001
}

extension NBDCommand {
    /// The command's name as metrics and logs show it.
    var label: String {
        switch self {
        case .read: "read"
        case .write: "write"
        case .disconnect: "disconnect"
        case .flush: "flush"
        case .trim: "trim"
        case .cache: "cache"
        case .writeZeroes: "write_zeroes"
        case .blockStatus: "block_status"
        }
    }
}
