import LayeredDisk
@testable import NBD
import NIOCore
import Testing

@Suite("NBD handshake state machine")
struct NBDHandshakeTests {
    private var handshake = NBDHandshake(exports: NBDExport(description: "test", disk: InMemoryDisk(sectorCount: 8)))

    private static func goData(name: String = "", infos: [UInt16] = []) -> ByteBuffer {
        var data = ByteBuffer()
        data.writeInteger(UInt32(name.utf8.count))
        data.writeString(name)
        data.writeInteger(UInt16(infos.count))
        infos.forEach { data.writeInteger($0) }
        return data
    }

    private static func replyTypes(_ action: NBDHandshake.Action) -> [UInt32] {
        action.replies.compactMap { reply in
            guard case let .optionReply(_, type, _) = reply else { return nil }
            return type
        }
    }

    @Test mutating func goAnswersExportAndBlockSizeThenStartsTransmission() {
        #expect(handshake.receive(.clientFlags(3)).next == .awaitOption)
        let go = handshake.receive(.option(code: 7, data: Self.goData(infos: [1, 2])))
        #expect(Self.replyTypes(go) == [3, 3, 3, 3, 1])
        guard case var .optionReply(_, _, export) = go.replies[0] else { Issue.record("no INFO_EXPORT"); return }
        #expect(export.readInteger(as: UInt16.self) == 0)
        #expect(export.readInteger(as: UInt64.self) == 4096)
        let flags = export.readInteger(as: UInt16.self) ?? 0
        #expect(flags & 1 != 0 && flags & 2 == 0 && flags & 0x100 != 0)
        #expect(go.next == .transmission(structuredReplies: false, baseAllocation: false))
    }

    @Test mutating func unknownClientFlagsCloseTheConnection() {
        #expect(handshake.receive(.clientFlags(1 | 4)).next == .close)
        #expect(handshake.receive(.clientFlags(1 << 31 | 3)).next == .close)
        var plain = NBDHandshake(exports: NBDExport(description: "test", disk: InMemoryDisk(sectorCount: 8)))
        #expect(plain.receive(.clientFlags(1)).next == .awaitOption)
    }

    @Test func onlyTheExportsOwnNameIsServed() {
        let named = NBDExport(name: "boot", description: "test", disk: InMemoryDisk(sectorCount: 8))
        var handshake = NBDHandshake(exports: named)
        _ = handshake.receive(.clientFlags(3))
        let info = handshake.receive(.option(code: 6, data: Self.goData(name: "other")))
        #expect(Self.replyTypes(info) == [0x8000_0006])
        #expect(info.next == .awaitOption)
        let defaultExport = handshake.receive(.option(code: 6, data: Self.goData(name: "")))
        #expect(Self.replyTypes(defaultExport) == [0x8000_0006])
        let go = handshake.receive(.option(code: 7, data: Self.goData(name: "other")))
        #expect(Self.replyTypes(go) == [0x8000_0006])
        #expect(go.next == .close)

        var old = NBDHandshake(exports: named)
        _ = old.receive(.clientFlags(3))
        #expect(old.receive(.option(code: 1, data: ByteBuffer(string: "other"))) == NBDHandshake.Action(replies: [], next: .close))
        var right = NBDHandshake(exports: named)
        _ = right.receive(.clientFlags(3))
        #expect(right.receive(.option(code: 1, data: ByteBuffer(string: "boot"))).next == .transmission(structuredReplies: false, baseAllocation: false))
        var goRight = NBDHandshake(exports: named)
        _ = goRight.receive(.clientFlags(3))
        #expect(goRight.receive(.option(code: 7, data: Self.goData(name: "boot"))).next == .transmission(structuredReplies: false, baseAllocation: false))
    }

    @Test mutating func unknownOptionsAreUnsupportedAndHagglingContinues() {
        _ = handshake.receive(.clientFlags(3))
        let unknown = handshake.receive(.option(code: 99, data: ByteBuffer()))
        #expect(Self.replyTypes(unknown) == [0x8000_0001])
        #expect(unknown.next == .awaitOption)
        #expect(Self.replyTypes(handshake.receive(.option(code: 5, data: ByteBuffer()))) == [0x8000_0001])
    }

    @Test mutating func metaContextNeedsStructuredReplies() {
        _ = handshake.receive(.clientFlags(3))
        var query = ByteBuffer()
        query.writeInteger(UInt32(0))
        query.writeInteger(UInt32(1))
        query.writeInteger(UInt32(15))
        query.writeString("base:allocation")
        #expect(Self.replyTypes(handshake.receive(.option(code: 10, data: query))) == [0x8000_0003])
        #expect(Self.replyTypes(handshake.receive(.option(code: 8, data: ByteBuffer()))) == [1])
        #expect(Self.replyTypes(handshake.receive(.option(code: 10, data: query))) == [4, 1])
        #expect(handshake.receive(.option(code: 7, data: Self.goData())).next == .transmission(structuredReplies: true, baseAllocation: true))
    }

    @Test mutating func malformedGoClosesButMalformedInfoDoesNot() {
        _ = handshake.receive(.clientFlags(3))
        #expect(handshake.receive(.option(code: 6, data: ByteBuffer(bytes: [0, 0]))).next == .awaitOption)
        #expect(handshake.receive(.option(code: 7, data: ByteBuffer(bytes: [0, 0]))).next == .close)
    }

    @Test mutating func abortAndOldClientsEndTheHandshake() {
        #expect(handshake.receive(.clientFlags(0)).next == .close)
        var other = NBDHandshake(exports: NBDExport(description: "test", disk: InMemoryDisk(sectorCount: 8)))
        _ = other.receive(.clientFlags(1))
        let abort = other.receive(.option(code: 2, data: ByteBuffer()))
        #expect(Self.replyTypes(abort) == [1] && abort.next == .close)
        let exportName = other.receive(.option(code: 1, data: ByteBuffer()))
        guard case let .exportName(size, _, padWithZeroes) = exportName.replies.first else { Issue.record("no export reply"); return }
        #expect(size == 4096 && padWithZeroes)
    }

    /// A catalog of two exports, as a server of guests offers them.
    struct TwoExports: NBDExportCatalog {
        let exports = ["a", "b"].map { NBDExport(name: $0, description: "guest \($0)", disk: InMemoryDisk(sectorCount: 8)) }

        func connect(to name: String) -> NBDExport? { exports.first { $0.name == name } }
        func disconnect(from export: NBDExport) {}
        func describe(_ name: String) -> NBDExport? { connect(to: name) }
        var listedNames: [String] { exports.map(\.name) }
    }

    @Test func listNamesEveryExportAndGoChoosesOne() {
        var handshake = NBDHandshake(exports: TwoExports())
        _ = handshake.receive(.clientFlags(3))
        let list = handshake.receive(.option(code: 3, data: ByteBuffer()))
        let names = list.replies.compactMap { reply -> String? in
            guard case var .optionReply(_, 2, data) = reply, let length = data.readInteger(as: UInt32.self) else { return nil }
            return data.readString(length: Int(length))
        }
        #expect(names == ["a", "b"])
        #expect(Self.replyTypes(handshake.receive(.option(code: 7, data: Self.goData(name: "c")))) == [0x8000_0006])
        #expect(handshake.chosen == nil)

        var again = NBDHandshake(exports: TwoExports())
        _ = again.receive(.clientFlags(3))
        #expect(again.receive(.option(code: 7, data: Self.goData(name: "b"))).next == .transmission(structuredReplies: false, baseAllocation: false))
        #expect(again.chosen?.name == "b")
    }
}
