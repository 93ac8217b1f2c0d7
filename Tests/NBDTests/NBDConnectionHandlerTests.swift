import LayeredDisk
@testable import NBD
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

/// The connection handler on its own, in an embedded channel: messages in,
/// messages out, time moved by hand. Reads a disk in memory answers at once
/// go through `EmbeddedChannel`; requests that run in a task, which needs an
/// event loop of its own, through `NIOAsyncTestingChannel`.
@Suite("NBD connection handler")
struct NBDConnectionHandlerTests {
    static let image = (0..<16 * 512).map { UInt8(truncatingIfNeeded: $0 / 512 + $0) }

    static func handler(on eventLoop: any EventLoop, disk: any BlockDevice) -> NBDConnectionHandler {
        NBDConnectionHandler(
            exports: NBDExport(description: "test", disk: disk), maximumInFlight: 4, maximumBytesInFlight: 1 << 20,
            handshakeTimeout: .seconds(10), metrics: NBDMetrics(), events: nil, finished: eventLoop.makePromise())
    }

    /// NBD_OPT_GO for the default export, with no information asked for.
    static let go: NBDClientMessage = {
        var data = ByteBuffer()
        data.writeInteger(UInt32(0))
        data.writeInteger(UInt16(0))
        return .option(code: 7, data: data)
    }()

    static func read(cookie: UInt64, offset: UInt64, length: UInt32) -> NBDClientMessage {
        .request(NBDRequest(flags: 0, type: NBDCommand.read.rawValue, cookie: cookie, offset: offset, length: length))
    }

    static let structuredReplies: NBDClientMessage = .option(code: 8, data: ByteBuffer())

    /// Connects, negotiates (with structured replies when asked) and drops
    /// what the handshake sent.
    static func negotiate(_ channel: EmbeddedChannel, structured: Bool) throws {
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 10809)).wait()
        #expect(try channel.readOutbound(as: NBDServerMessage.self) == .greeting)
        try channel.writeInbound(NBDClientMessage.clientFlags(3))
        if structured {
            try channel.writeInbound(structuredReplies)
        }
        try channel.writeInbound(go)
        while try channel.readOutbound(as: NBDServerMessage.self) != nil {}
    }

    /// The same for a channel whose requests run in tasks.
    static func negotiate(_ channel: NIOAsyncTestingChannel, structured: Bool) async throws {
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 10809))
        try await channel.writeInbound(NBDClientMessage.clientFlags(3))
        if structured {
            try await channel.writeInbound(structuredReplies)
        }
        try await channel.writeInbound(go)
        while try await channel.readOutbound(as: NBDServerMessage.self) != nil {}
    }

    @Test func aReadTheDiskAnswersAtOnceIsRepliedInTheSameEventLoopTurn() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(Self.handler(on: channel.eventLoop, disk: try InMemoryDisk(bytes: Self.image)))
        try Self.negotiate(channel, structured: true)

        try channel.writeInbound(Self.read(cookie: 7, offset: 1024, length: 1024))

        let reply = try #require(try channel.readOutbound(as: NBDServerMessage.self))
        let expected = NBDReply(cookie: 7, body: .data(offset: 1024, bytes: .byteBuffer(ByteBuffer(bytes: Self.image[1024..<2048]))), isStructured: true)
        #expect(reply == .reply(expected))
        #expect(try channel.finish().isClean)
    }

    /// A client that connects and never finishes its handshake is closed
    /// when its time is up, not before.
    @Test func aStalledHandshakeIsClosedWhenItsTimeIsUp() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(Self.handler(on: channel.eventLoop, disk: InMemoryDisk(sectorCount: 8)))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 10809)).wait()
        try channel.writeInbound(NBDClientMessage.clientFlags(3))

        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive)
    }

    /// A handshake that ends in time is not closed by its timer later.
    @Test func aFinishedHandshakeOutlivesItsTimer() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(Self.handler(on: channel.eventLoop, disk: InMemoryDisk(sectorCount: 8)))
        try Self.negotiate(channel, structured: false)
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(channel.isActive)
        #expect(try channel.finish().isClean)
    }

    /// A handshake message once requests are served breaks the protocol.
    @Test func anOptionDuringTransmissionClosesTheConnection() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(Self.handler(on: channel.eventLoop, disk: InMemoryDisk(sectorCount: 8)))
        try Self.negotiate(channel, structured: false)
        try channel.writeInbound(Self.go)
        #expect(!channel.isActive)
    }

    /// A read past the end runs in a task and gets a structured error that
    /// says why; a write is answered once it is done, and a read then sees it.
    @Test func requestsThatRunInATaskAreAnsweredWithTheirOutcome() async throws {
        let channel = NIOAsyncTestingChannel()
        let disk = try InMemoryDisk(bytes: Self.image)
        try await channel.pipeline.addHandler(Self.handler(on: channel.eventLoop, disk: disk))
        try await Self.negotiate(channel, structured: true)

        try await channel.writeInbound(Self.read(cookie: 1, offset: 16 * 512, length: 512))
        let refused = try await channel.waitForOutboundWrite(as: NBDServerMessage.self)
        #expect(refused == .reply(NBDReply(
            cookie: 1, body: .error(.invalid, message: "read outside the export or too large"), isStructured: true)))

        let written = ByteBuffer(repeating: 0x5a, count: 512)
        try await channel.writeInbound(NBDClientMessage.request(NBDRequest(
            flags: 0, type: NBDCommand.write.rawValue, cookie: 2, offset: 512, length: 512, payload: written)))
        #expect(try await channel.waitForOutboundWrite(as: NBDServerMessage.self) == .reply(NBDReply(cookie: 2, body: .done, isStructured: true)))

        try await channel.writeInbound(Self.read(cookie: 3, offset: 512, length: 512))
        #expect(try await channel.waitForOutboundWrite(as: NBDServerMessage.self)
            == .reply(NBDReply(cookie: 3, body: .data(offset: 512, bytes: .byteBuffer(written)), isStructured: true)))
        _ = try await channel.finish()
    }

    /// NBD_CMD_DISC: requests before it are answered, then the connection
    /// closes, once the replies are written.
    @Test func aDisconnectClosesAfterTheRepliesBeforeIt() async throws {
        let channel = NIOAsyncTestingChannel()
        try await channel.pipeline.addHandler(Self.handler(on: channel.eventLoop, disk: try InMemoryDisk(bytes: Self.image)))
        try await Self.negotiate(channel, structured: false)

        try await channel.writeInbound(NBDClientMessage.request(NBDRequest(
            flags: 0, type: NBDCommand.flush.rawValue, cookie: 4, offset: 0, length: 0)))
        try await channel.writeInbound(NBDClientMessage.request(NBDRequest(
            flags: 0, type: NBDCommand.disconnect.rawValue, cookie: 5, offset: 0, length: 0)))
        #expect(try await channel.waitForOutboundWrite(as: NBDServerMessage.self) == .reply(NBDReply(cookie: 4, body: .done, isStructured: false)))
        try await channel.closeFuture.get()
        #expect(try await channel.readOutbound(as: NBDServerMessage.self) == nil)
    }

    /// Reads that end together (their fetches arrived in one pass of curl's
    /// loop) are answered in one flush: one write to the socket, one wake-up
    /// of the client, not one each.
    @Test(.timeLimit(.minutes(5)))
    func repliesOfTasksThatEndTogetherGoOutInOneFlush() async throws {
        let channel = NIOAsyncTestingChannel()
        let disk = try HeldDisk(bytes: Self.image)
        let flushes = FlushCounter()
        try await channel.pipeline.addHandler(flushes)
        try await channel.pipeline.addHandler(Self.handler(on: channel.eventLoop, disk: disk))
        try await Self.negotiate(channel, structured: false)

        for cookie in 1...3 {
            try await channel.writeInbound(Self.read(cookie: UInt64(cookie), offset: UInt64(cookie) * 512, length: 512))
        }
        await disk.waitUntilHeld(3) { await channel.testingEventLoop.run() }
        let flushesBefore = flushes.count.load(ordering: .relaxed)
        // Released in one turn of the loop, as curl's finished transfers resume their readers.
        try await channel.eventLoop.submit { disk.release() }.get()

        var cookies: [UInt64] = []
        for _ in 1...3 {
            guard case let .reply(reply) = try await channel.waitForOutboundWrite(as: NBDServerMessage.self) else { continue }
            #expect(reply.body == .data(offset: reply.cookie * 512, bytes: .byteBuffer(ByteBuffer(bytes: Self.image[Int(reply.cookie) * 512..<Int(reply.cookie + 1) * 512]))))
            cookies.append(reply.cookie)
        }
        #expect(cookies.sorted() == [1, 2, 3])
        #expect(flushes.count.load(ordering: .relaxed) - flushesBefore == 1)
        _ = try await channel.finish()
    }
}

/// Counts the flushes that reach the socket's end of the pipeline.
final class FlushCounter: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = NIOAny
    let count = Atomic<Int>(0)

    func flush(context: ChannelHandlerContext) {
        count.add(1, ordering: .relaxed)
        context.flush()
    }
}

/// A disk in memory whose reads wait until released, as misses wait for
/// their fetches.
private final class HeldDisk: BlockDevice {
    private let contents: InMemoryDisk
    private let held = Mutex<[CheckedContinuation<Void, Never>]>([])

    init(bytes: [UInt8]) throws {
        contents = try InMemoryDisk(bytes: bytes, readOnly: true)
    }

    var sectorSize: Int { contents.sectorSize }
    var sectorCount: UInt64 { contents.sectorCount }
    var physicalSectorSize: Int { contents.physicalSectorSize }
    var isFUARespected: Bool { false }
    var isReadOnly: Bool { true }
    var unmapBehavior: UnmapBehavior { .ignored }

    /// Returns once `count` reads wait, running `turn` (the test loop's
    /// pending work) until they do.
    func waitUntilHeld(_ count: Int, turn: () async -> Void) async {
        while held.withLock({ $0.count }) < count {
            await turn()
        }
    }

    /// Lets every waiting read go on.
    func release() {
        held.withLock { held in
            defer { held = [] }
            return held
        }.forEach { $0.resume() }
    }

    func read(at sector: UInt64, count: Int) async throws -> [UInt8] {
        await withCheckedContinuation { continuation in held.withLock { $0.append(continuation) } }
        return try await contents.read(at: sector, count: count)
    }

    func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        try await contents.write(bytes, at: sector, fua: fua)
    }

    func flush() async throws {}

    func unmap(at sector: UInt64, count: UInt64) async throws {}
}
