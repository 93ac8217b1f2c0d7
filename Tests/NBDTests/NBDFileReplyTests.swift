import Foundation
import HTTPTestServers
import LayeredDisk
@testable import NBD
import NIOCore
import NIOEmbedded
import Synchronization
import SystemPackage
import Testing

/// Large reads a disk holds in a file go out as a region of that file
/// (`sendfile`), small ones in a buffer, whether they were hits or waited;
/// once the reply is written the read is finished and the reply's handle
/// gives the file's descriptor back, open.
@Suite("NBD replies sent from a file")
struct NBDFileReplyTests {
    @Test func aLargeReadIsSentFromTheFileAndASmallOneFromABuffer() throws {
        let directory = try TemporaryDirectory()
        let image = (0..<256 * 1024).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 12) }
        let disk = try FileDisk(bytes: image, at: directory.url.appendingPathComponent("disk").path)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(NBDConnectionHandlerTests.handler(on: channel.eventLoop, disk: disk))
        try NBDConnectionHandlerTests.negotiate(channel, structured: true)

        let length = NBDTransmission.smallestFileReply
        try channel.writeInbound(NBDConnectionHandlerTests.read(cookie: 1, offset: 65536, length: length))
        guard case let .reply(large) = try #require(try channel.readOutbound(as: NBDServerMessage.self)),
              case let .data(offset, .fileRegion(region)) = large.body
        else {
            Issue.record("a read of \(length) bytes was not sent from the file")
            return
        }
        #expect(offset == 65536)
        #expect(region.readerIndex == 65536 && region.readableBytes == Int(length))
        #expect(try disk.bytes(region.readableBytes, at: Int64(region.readerIndex)) == Array(image[65536..<65536 + Int(length)]))
        #expect(disk.sentSpans == 1, "the write finished, and with it the read")
        #expect(!region.fileHandle.isOpen, "the reply's handle let go of the descriptor")

        try channel.writeInbound(NBDConnectionHandlerTests.read(cookie: 2, offset: 4096, length: length - 512))
        guard case let .reply(small) = try #require(try channel.readOutbound(as: NBDServerMessage.self)),
              case let .data(_, .byteBuffer(bytes)) = small.body
        else {
            Issue.record("a read under \(length) bytes was not sent in a buffer")
            return
        }
        #expect(Array(bytes.readableBytesView) == Array(image[4096..<4096 + Int(length) - 512]))

        #expect(try disk.bytes(4096, at: 65536) == Array(image[65536..<69632]), "the disk's own descriptor is still open")
        #expect(try channel.finish().isClean)
    }

    /// A miss is a hit that waited: once its bytes are in the file, it is
    /// sent from there too.
    @Test func aReadThatWaitedIsSentFromTheFileToo() async throws {
        let directory = try TemporaryDirectory()
        let image = (0..<256 * 1024).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 11) }
        let disk = try FileDisk(bytes: image, at: directory.url.appendingPathComponent("disk").path, answersAtOnce: false)
        let channel = NIOAsyncTestingChannel()
        try await channel.pipeline.addHandler(NBDConnectionHandlerTests.handler(on: channel.eventLoop, disk: disk))
        try await NBDConnectionHandlerTests.negotiate(channel, structured: false)

        let length = NBDTransmission.smallestFileReply * 2
        try await channel.writeInbound(NBDConnectionHandlerTests.read(cookie: 1, offset: 131_072, length: length))
        guard case let .reply(large) = try await channel.waitForOutboundWrite(as: NBDServerMessage.self),
              case let .data(_, .fileRegion(region)) = large.body
        else {
            Issue.record("a read of \(length) bytes that waited was not sent from the file")
            return
        }
        #expect(try disk.bytes(region.readableBytes, at: Int64(region.readerIndex)) == Array(image[131_072..<131_072 + Int(length)]))
        await channel.testingEventLoop.run()
        #expect(disk.sentSpans == 1)

        try await channel.writeInbound(NBDConnectionHandlerTests.read(cookie: 2, offset: 512, length: 4096))
        #expect(try await channel.waitForOutboundWrite(as: NBDServerMessage.self)
            == .reply(NBDReply(cookie: 2, body: .data(offset: 512, bytes: .byteBuffer(ByteBuffer(bytes: image[512..<4608]))), isStructured: false)))
        _ = try await channel.finish()
    }
}

/// A disk whose bytes are a file's, each at its own offset, which it gives
/// as spans: what a read cache holding every chunk gives `serve`. One that
/// does not answer at once has every read wait, as a miss does.
private final class FileDisk: BlockDevice {
    private let file: SystemPackage.FileDescriptor
    private let spansSent = Atomic<Int>(0)
    private let answersAtOnce: Bool
    let sectorCount: UInt64

    init(bytes: [UInt8], at path: String, answersAtOnce: Bool = true) throws {
        file = try SystemPackage.FileDescriptor.open(FilePath(path), .readWrite, options: .create, permissions: .ownerReadWrite)
        _ = try file.writeAll(toAbsoluteOffset: 0, bytes)
        sectorCount = UInt64(bytes.count / 512)
        self.answersAtOnce = answersAtOnce
    }

    deinit {
        try? file.close()
    }

    var sentSpans: Int { spansSent.load(ordering: .relaxed) }
    var sectorSize: Int { 512 }
    var physicalSectorSize: Int { 512 }
    var isFUARespected: Bool { false }
    var isReadOnly: Bool { true }
    var unmapBehavior: UnmapBehavior { .ignored }

    static func read(_ count: Int, at offset: Int64, from descriptor: CInt) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: count) { buffer, read in
            read = try SystemPackage.FileDescriptor(rawValue: descriptor).read(fromAbsoluteOffset: offset, into: UnsafeMutableRawBufferPointer(buffer))
        }
    }

    /// `count` bytes at `offset`, read through the disk's own descriptor.
    func bytes(_ count: Int, at offset: Int64) throws -> [UInt8] {
        try Self.read(count, at: offset, from: file.rawValue)
    }

    func fileSpan(at sector: UInt64, count: Int) -> FileSpan? {
        answersAtOnce ? span(at: sector, count: count) : nil
    }

    private func span(at sector: UInt64, count: Int) -> FileSpan {
        FileSpan(descriptor: file.rawValue, owner: self, offset: Int64(sector * 512), count: count * 512).whenSent { [self] in
            spansSent.add(1, ordering: .relaxed)
        }
    }

    func readImmediately(at sector: UInt64, count: Int, into target: UnsafeMutableRawBufferPointer) throws -> Bool {
        guard answersAtOnce else { return false }
        target.copyBytes(from: try Self.read(count * 512, at: Int64(sector * 512), from: file.rawValue))
        return true
    }

    func read(at sector: UInt64, count: Int, into destination: inout some ReadDestination) async throws {
        await Task.yield()
        if destination.takesFileSpans, destination.take(span(at: sector, count: count)) {
            return
        }
        let bytes = try Self.read(count * 512, at: Int64(sector * 512), from: file.rawValue)
        destination.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
    }

    func read(at sector: UInt64, count: Int) async throws -> [UInt8] {
        try Self.read(count * 512, at: Int64(sector * 512), from: file.rawValue)
    }

    func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        throw DiskError.readOnly
    }

    func flush() async throws {}

    func unmap(at sector: UInt64, count: UInt64) async throws {}
}
