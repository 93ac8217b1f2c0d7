import FileCache
import LayeredDisk
import Synchronization
import SystemPackage
import Testing

/// Reads `serve` sends straight from the cache's data file: only of bytes the
/// cache holds whole, and never of sectors a guest wrote over.
@Suite("Reads sent from the cache's file")
struct FileSpanTests {
    /// The stack `serve` builds: the guest's writes in RAM, over the cache,
    /// over the image.
    private func servedDisk(_ cache: FileCacheLayer) async throws -> LayeredDisk {
        try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(RAMLayer.sizedToLowerLayer), LayerConfiguration(cache, readCache: true), LayerConfiguration(TestImage.layer()),
        ])
    }

    /// The bytes a span names, read from its file.
    private func bytes(of span: FileSpan) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: span.count) { buffer, count in
            count = try FileDescriptor(rawValue: span.descriptor).read(fromAbsoluteOffset: span.offset, into: UnsafeMutableRawBufferPointer(buffer))
        }
    }

    @Test func cachedSectorsAreSentFromTheDataFileAtTheirOffset() async throws {
        let directory = CacheDirectory()
        let (cache, _) = try FileCacheLayer.open(at: directory.path, for: TestImage.header())
        let disk = try await servedDisk(cache)
        #expect(disk.fileSpan(at: 128, count: 256) == nil, "nothing is cached yet")

        _ = try await disk.read(at: 128, count: 256)
        let span = try #require(disk.fileSpan(at: 130, count: 200))
        #expect(span.offset == 130 * 512)
        #expect(span.count == 200 * 512)
        #expect(try bytes(of: span) == Array(TestImage.bytes[130 * 512..<330 * 512]))
        #expect(disk.fileSpan(at: 128, count: 257) == nil, "sector 384 is in chunk 3, not cached")
    }

    @Test func sectorsAGuestWroteAreNeverSentFromTheCache() async throws {
        let directory = CacheDirectory()
        let (cache, _) = try FileCacheLayer.open(at: directory.path, for: TestImage.header())
        let disk = try await servedDisk(cache)
        _ = try await disk.read(at: 0, count: 512)
        try await disk.write(ArraySlice(repeating: 0xAB, count: 512), at: 300, fua: false)

        #expect(disk.fileSpan(at: 256, count: 128) == nil)
        #expect(disk.fileSpan(at: 300, count: 1) == nil)
        #expect(disk.fileSpan(at: 256, count: 44) != nil)
        #expect(disk.fileSpan(at: 301, count: 83) != nil)
        #expect(try await disk.read(at: 300, count: 1) == Array(repeating: 0xAB, count: 512))
    }

    @Test func aSentReadFinishesOnlyOnceItsBytesAreSent() async throws {
        let directory = CacheDirectory()
        let (cache, _) = try FileCacheLayer.open(at: directory.path, for: TestImage.header())
        let recorder = ReadRecorder()
        let disk = ObservedDisk(try await servedDisk(cache), observers: [recorder])
        _ = try await disk.base.read(at: 0, count: 256)

        let span = try #require(disk.fileSpan(at: 0, count: 128))
        #expect(recorder.events == ["observed 0..<65536"])
        span.sent()
        #expect(recorder.events == ["observed 0..<65536", "finished 0..<65536"])
        #expect(disk.fileSpan(at: 256, count: 128) == nil)
        #expect(recorder.events.count == 2, "a read not sent from the file is shown where it is read")
    }

    /// A read that waits ends as a hit does: a destination that takes spans
    /// gets one once the bytes are cached, and its read finishes when it is
    /// sent; before, the bytes are copied in.
    @Test func aReadIntoADestinationThatTakesSpansGetsOneOnceCached() async throws {
        let directory = CacheDirectory()
        let (cache, _) = try FileCacheLayer.open(at: directory.path, for: TestImage.header())
        let recorder = ReadRecorder()
        let disk = ObservedDisk(try await servedDisk(cache), observers: [recorder])

        var cold = SpanTakingDestination([UInt8](repeating: 0, count: 256 * 512))
        try await disk.read(at: 256, count: 256, into: &cold)
        #expect(cold.span == nil)
        #expect(cold.buffer == Array(TestImage.bytes[256 * 512..<512 * 512]))
        #expect(recorder.events == ["observed 131072..<262144", "finished 131072..<262144"])

        var warm = SpanTakingDestination([UInt8](repeating: 0, count: 256 * 512))
        try await disk.read(at: 256, count: 256, into: &warm)
        let span = try #require(warm.span)
        #expect(span.offset == 256 * 512 && span.count == 256 * 512)
        #expect(try bytes(of: span) == Array(TestImage.bytes[256 * 512..<512 * 512]))
        #expect(warm.buffer.allSatisfy { $0 == 0 }, "nothing was copied in")
        #expect(recorder.events.count == 3)
        span.sent()
        #expect(recorder.events.last == "finished 131072..<262144")
    }
}

/// What an observer is told, in order.
private final class ReadRecorder: ReadObserver {
    private let recorded = Mutex<[String]>([])

    var events: [String] { recorded.withLock { $0 } }

    func observeRead(_ bytes: Range<UInt64>) {
        recorded.withLock { $0.append("observed \(bytes)") }
    }

    func readFinished(_ bytes: Range<UInt64>) {
        recorded.withLock { $0.append("finished \(bytes)") }
    }
}
