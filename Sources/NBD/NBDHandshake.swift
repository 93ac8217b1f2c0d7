import NIOCore

/// The option-haggling phase as a state machine: each client message goes in,
/// the replies to send and what happens next come out. No I/O happens here.
struct NBDHandshake {
    /// What to do after sending ``Action/replies``.
    enum Next: Equatable {
        case awaitOption
        case close
        case transmission(structuredReplies: Bool, baseAllocation: Bool)
    }

    struct Action: Equatable {
        var replies: [NBDServerMessage]
        var next: Next
    }

    static let baseAllocation = "base:allocation"
    /// The id the single meta context is known by.
    static let baseAllocationID: UInt32 = 1

    private let exports: any NBDExportCatalog
    private var noZeroes = false
    private var structuredReplies = false
    private var baseAllocationSelected = false
    /// The export the client chose, once it did (NBD_OPT_GO or
    /// NBD_OPT_EXPORT_NAME): given by the catalog's
    /// ``NBDExportCatalog/connect(to:)``, to be handed back when the
    /// connection ends.
    private(set) var chosen: NBDExport?

    init(exports: any NBDExportCatalog) {
        self.exports = exports
    }

    mutating func receive(_ message: NBDClientMessage) -> Action {
        switch message {
        case let .clientFlags(flags):
            // A flag this server does not know means the client expects
            // something it cannot give: the protocol says to hang up.
            let known = UInt32(NBDProtocol.fixedNewstyle | NBDProtocol.noZeroes)
            guard flags & UInt32(NBDProtocol.fixedNewstyle) != 0, flags & ~known == 0 else {
                return Action(replies: [], next: .close)
            }
            noZeroes = flags & UInt32(NBDProtocol.noZeroes) != 0
            return Action(replies: [], next: .awaitOption)
        case let .option(code, data):
            return option(code, data: data)
        case .request:
            return Action(replies: [], next: .close)
        }
    }

    private mutating func option(_ code: UInt32, data: ByteBuffer) -> Action {
        switch NBDOption(rawValue: code) {
        case .exportName:
            // This old option has no error reply: an unknown export ends the session.
            guard let name = data.getString(at: data.readerIndex, length: data.readableBytes),
                  let export = exports.connect(to: name)
            else {
                return Action(replies: [], next: .close)
            }
            chosen = export
            return Action(
                replies: [.exportName(size: export.size, flags: flags(of: export), padWithZeroes: !noZeroes)],
                next: .transmission(structuredReplies: structuredReplies, baseAllocation: baseAllocationSelected))
        case .abort:
            return Action(replies: [reply(code, .ack)], next: .close)
        case .list:
            guard data.readableBytes == 0 else { return error(code, .errorInvalid, "LIST takes no data") }
            let servers = exports.listedNames.map { name in
                var server = ByteBuffer()
                server.writeInteger(UInt32(name.utf8.count))
                server.writeString(name)
                return reply(code, .server, server)
            }
            return Action(replies: servers + [reply(code, .ack)], next: .awaitOption)
        case .info, .go:
            return infoOrGo(code, data: data)
        case .structuredReply:
            guard data.readableBytes == 0 else { return error(code, .errorInvalid, "STRUCTURED_REPLY takes no data") }
            structuredReplies = true
            return Action(replies: [reply(code, .ack)], next: .awaitOption)
        case .listMetaContext, .setMetaContext:
            return metaContext(code, data: data)
        case .startTLS, nil:
            return error(code, .errorUnsupported, "option \(code) is not supported")
        }
    }

    private mutating func infoOrGo(_ code: UInt32, data: ByteBuffer) -> Action {
        let isGo = code == NBDOption.go.rawValue
        var data = data
        guard let nameLength = data.readInteger(as: UInt32.self),
              nameLength <= data.readableBytes,
              let name = data.readString(length: Int(nameLength)),
              let count = data.readInteger(as: UInt16.self),
              data.readableBytes == Int(count) * 2
        else {
            // GO moved the decoder to transmission already: a bad GO ends the connection.
            var action = error(code, .errorInvalid, "malformed \(isGo ? "GO" : "INFO") request")
            action.next = isGo ? .close : .awaitOption
            return action
        }
        guard let export = isGo ? exports.connect(to: name) : exports.describe(name) else {
            var action = error(code, .errorUnknown, "there is no export named '\(name)'")
            action.next = isGo ? .close : .awaitOption
            return action
        }
        if isGo {
            chosen = export
        }
        let requested = (0..<count).compactMap { _ in data.readInteger(as: UInt16.self) }.compactMap(NBDInfo.init(rawValue:))

        var infoExport = ByteBuffer()
        infoExport.writeInteger(NBDInfo.export.rawValue)
        infoExport.writeInteger(export.size)
        infoExport.writeInteger(flags(of: export))
        var blockSize = ByteBuffer()
        blockSize.writeInteger(NBDInfo.blockSize.rawValue)
        blockSize.writeInteger(UInt32(1))
        blockSize.writeInteger(UInt32(4096))
        blockSize.writeInteger(NBDProtocol.maximumPayload)
        var replies = [reply(code, .info, infoExport), reply(code, .info, blockSize)]
        if requested.contains(.name) {
            replies.append(reply(code, .info, Self.info(.name, export.name)))
        }
        if requested.contains(.description) {
            replies.append(reply(code, .info, Self.info(.description, export.description)))
        }
        replies.append(reply(code, .ack))
        return Action(
            replies: replies,
            next: isGo ? .transmission(structuredReplies: structuredReplies, baseAllocation: baseAllocationSelected) : .awaitOption)
    }

    private mutating func metaContext(_ code: UInt32, data: ByteBuffer) -> Action {
        let isSet = code == NBDOption.setMetaContext.rawValue
        var data = data
        guard let nameLength = data.readInteger(as: UInt32.self), data.readString(length: Int(nameLength)) != nil,
              let count = data.readInteger(as: UInt32.self)
        else {
            return error(code, .errorInvalid, "malformed meta context request")
        }
        var queries: [String] = []
        for _ in 0..<count {
            guard let length = data.readInteger(as: UInt32.self), let query = data.readString(length: Int(length)) else {
                return error(code, .errorInvalid, "malformed meta context query")
            }
            queries.append(query)
        }
        if isSet && !structuredReplies {
            return error(code, .errorInvalid, "SET_META_CONTEXT needs structured replies first")
        }
        let matches = (queries.isEmpty && !isSet) || queries.contains { $0 == Self.baseAllocation || $0 == "base:" }
        if isSet {
            baseAllocationSelected = matches
        }
        var replies: [NBDServerMessage] = []
        if matches {
            var context = ByteBuffer()
            context.writeInteger(Self.baseAllocationID)
            context.writeString(Self.baseAllocation)
            replies.append(reply(code, .metaContext, context))
        }
        replies.append(reply(code, .ack))
        return Action(replies: replies, next: .awaitOption)
    }

    private func flags(of export: NBDExport) -> UInt16 {
        export.transmissionFlags(structuredReplies: structuredReplies)
    }

    private func reply(_ option: UInt32, _ type: NBDOptionReply, _ data: ByteBuffer = ByteBuffer()) -> NBDServerMessage {
        .optionReply(option: option, type: type.rawValue, data: data)
    }

    private func error(_ option: UInt32, _ type: NBDOptionReply, _ message: String) -> Action {
        Action(replies: [reply(option, type, ByteBuffer(string: message))], next: .awaitOption)
    }

    private static func info(_ item: NBDInfo, _ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(item.rawValue)
        buffer.writeString(text)
        return buffer
    }
}
