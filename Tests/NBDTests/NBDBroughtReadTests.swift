import LayeredDisk
@testable import NBD
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

/// Reads that miss a cache whose filler brings the bytes are waited for with
/// no task: the handler answers them on its loop once the disk says their
/// bytes are in, as it answers hits.
@Suite("NBD reads brought without a task")
struct NBDBroughtReadTests {
    static let image = NBDConnectionHandlerTests.image

    static func negotiatedChannel(disk: BringingDisk) throws -> (EmbeddedChannel, FlushCounter) {
        let channel = EmbeddedChannel()
        let flushes = FlushCounter()
        try channel.pipeline.syncOperations.addHandler(flushes)
        try channel.pipeline.syncOperations.addHandler(NBDConnectionHandlerTests.handler(on: channel.eventLoop, disk: disk))
        try NBDConnectionHandlerTests.negotiate(channel, structured: true)
        return (channel, flushes)
    }

    static func data(_ cookie: UInt64, _ range: Range<Int>) -> NBDServerMessage {
        .reply(NBDReply(cookie: cookie, body: .data(offset: UInt64(range.lowerBound), bytes: .byteBuffer(ByteBuffer(bytes: image[range]))),
                        isStructured: true))
    }

    /// Three misses wait with no task; their bytes coming in one turn of the
    /// loop answers all three, in one flush, and none reads the slow way.
    @Test func missesAreAnsweredOnceTheirBytesAreInWithNoTask() throws {
        let disk = try BringingDisk(bytes: Self.image)
        let (channel, flushes) = try Self.negotiatedChannel(disk: disk)

        for cookie in 1...3 {
            try channel.writeInbound(NBDConnectionHandlerTests.read(cookie: UInt64(cookie), offset: UInt64(cookie) * 512, length: 512))
        }
        #expect(try channel.readOutbound(as: NBDServerMessage.self) == nil)
        #expect(disk.bringing == 3)

        let flushesBefore = flushes.count.load(ordering: .relaxed)
        disk.bringEverything()
        channel.embeddedEventLoop.run()
        var replies: [NBDServerMessage] = []
        while let reply = try channel.readOutbound(as: NBDServerMessage.self) {
            replies.append(reply)
        }
        #expect(replies == (1...3).map { Self.data(UInt64($0), $0 * 512..<($0 + 1) * 512) })
        #expect(flushes.count.load(ordering: .relaxed) - flushesBefore == 1)
        #expect(disk.tasksRead == 0)
        #expect(try channel.finish().isClean)
    }

    /// A fetch that fails fails the read with its error, as the reply says.
    @Test func aBringThatFailsIsAnIOErrorThatSaysWhy() throws {
        let disk = try BringingDisk(bytes: Self.image)
        let (channel, _) = try Self.negotiatedChannel(disk: disk)

        try channel.writeInbound(NBDConnectionHandlerTests.read(cookie: 9, offset: 0, length: 512))
        disk.failEverything(with: BringingDisk.Failure())
        channel.embeddedEventLoop.run()

        #expect(try channel.readOutbound(as: NBDServerMessage.self)
            == .reply(NBDReply(cookie: 9, body: .error(.io, message: "the origin went away"), isStructured: true)))
        #expect(disk.tasksRead == 0)
        #expect(try channel.finish().isClean)
    }

    /// Bytes gone again before the read took them (a bounded memory cache
    /// let go of them) are read in a task instead, and still answered.
    @Test func bytesGoneAgainAreReadInATask() async throws {
        let disk = try BringingDisk(bytes: Self.image, losesBroughtBytes: true)
        let channel = NIOAsyncTestingChannel()
        try await channel.pipeline.addHandler(NBDConnectionHandlerTests.handler(on: channel.eventLoop, disk: disk))
        try await NBDConnectionHandlerTests.negotiate(channel, structured: true)

        try await channel.writeInbound(NBDConnectionHandlerTests.read(cookie: 4, offset: 1024, length: 1024))
        try await channel.eventLoop.submit { disk.bringEverything() }.get()

        #expect(try await channel.waitForOutboundWrite(as: NBDServerMessage.self) == Self.data(4, 1024..<2048))
        #expect(disk.tasksRead == 1)
        _ = try await channel.finish()
    }
}

/// A disk in memory that answers no read at once: each starts "bringing"
/// its bytes, which come when the test says.
final class BringingDisk: BlockDevice {
    struct Failure: Error, CustomStringConvertible {
        var description: String { "the origin went away" }
    }

    private let contents: InMemoryDisk
    private let losesBroughtBytes: Bool
    private let waiting = Mutex<[@Sendable (Result<Void, any Error>) -> Void]>([])
    private let taskReads = Atomic<Int>(0)

    init(bytes: [UInt8], losesBroughtBytes: Bool = false) throws {
        contents = try InMemoryDisk(bytes: bytes, readOnly: true)
        self.losesBroughtBytes = losesBroughtBytes
    }

    var sectorSize: Int { contents.sectorSize }
    var sectorCount: UInt64 { contents.sectorCount }
    var physicalSectorSize: Int { contents.physicalSectorSize }
    var isFUARespected: Bool { false }
    var isReadOnly: Bool { true }
    var unmapBehavior: UnmapBehavior { .ignored }

    /// Reads waiting for their bytes.
    var bringing: Int { waiting.withLock(\.count) }
    /// Reads that went the slow way, in a task.
    var tasksRead: Int { taskReads.load(ordering: .relaxed) }

    func bringEverything() {
        settleEverything(.success(()))
    }

    func failEverything(with error: any Error) {
        settleEverything(.failure(error))
    }

    private func settleEverything(_ outcome: Result<Void, any Error>) {
        waiting.withLock { waiting in
            defer { waiting = [] }
            return waiting
        }.forEach { $0(outcome) }
    }

    func readImmediately(
        at sector: UInt64, count: Int, into target: UnsafeMutableRawBufferPointer,
        orBring ready: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) throws -> ImmediateRead {
        waiting.withLock { $0.append(ready) }
        return .bringing(PendingRead { [self] target in
            guard !losesBroughtBytes else { return false }
            return try contents.readImmediately(at: sector, count: count, into: target)
        })
    }

    func read(at sector: UInt64, count: Int) async throws -> [UInt8] {
        taskReads.add(1, ordering: .relaxed)
        return try await contents.read(at: sector, count: count)
    }

    func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {}

    func flush() async throws {}

    func unmap(at sector: UInt64, count: UInt64) async throws {}
}
