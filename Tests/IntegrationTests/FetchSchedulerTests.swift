import Fetching
import FileCache
import Foundation
import HTTPClient
import HTTPTestServers
import ImageModel
import LayeredDisk
import RemoteImage
import SystemPackage
import Testing

/// The fetch scheduler behind the HTTP layer, against the fault server (whose
/// log shows every range requested) with a real file cache.
@Suite("Fetch scheduler")
struct FetchSchedulerTests {
    /// A random image on the fault server, a cache for it, and the stack
    /// `serve` builds: cache over HTTP, reads observed by the scheduler.
    struct Stack {
        let content: [UInt8]
        let server: FaultServer
        let directory: TemporaryDirectory
        let cache: FileCacheLayer
        let scheduler: FetchScheduler
        let disk: ObservedDisk<LayeredDisk>

        init(
            size: Int, delayMilliseconds: Int = 0, connections: Int = 8, policy: FetchPolicy = FetchPolicy(),
            fault: FaultServer.Fault? = nil
        ) async throws {
            let random = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
            content = Array(try random.read(upToCount: size) ?? Data())
            server = try await FaultServer.start(
                content: content, fault: fault ?? (delayMilliseconds > 0 ? .firstByteDelay(milliseconds: delayMilliseconds) : .none))
            directory = try TemporaryDirectory()
            var configuration = HTTPClientConfiguration()
            configuration.connections = connections
            let image = try await RemoteImage.open(try ImageURL(server.url), client: CurlClient(configuration: configuration))
            let layer = try await HTTPRangeLayer.open(image, format: .raw)
            let header = CacheHeader(
                sectorSize: 512, diskSize: layer.sectorCount * 512, chunkSize: 64 << 10,
                format: layer.format.rawValue, identity: image.identity)
            cache = try FileCacheLayer.open(at: FilePath(directory.url.path), for: header).0
            scheduler = layer.scheduler(filling: cache, policy: policy)
            let stack = try await LayeredDisk(readOnly: true, layers: [LayerConfiguration(cache, filledBy: scheduler), LayerConfiguration(layer)])
            disk = ObservedDisk(stack, observers: [scheduler])
        }

        /// The byte ranges of every range GET after the open probe.
        var fetchedRanges: [ClosedRange<Int>] {
            server.requests.filter { $0.method == "GET" && $0.range != "bytes=0-0" }.compactMap { request in
                guard let bounds = request.range?.dropFirst("bytes=".count).split(separator: "-"),
                      bounds.count == 2, let first = Int(bounds[0]), let last = Int(bounds[1]) else { return nil }
                return first...last
            }
        }

        func read(_ bytes: Range<Int>) async throws {
            let read = try await disk.readBytes(UInt64(bytes.lowerBound)..<UInt64(bytes.upperBound))
            #expect(read == Array(content[bytes]), "bytes \(bytes)")
        }
    }

    @Test func concurrentReadersNeverFetchAByteTwice() async throws {
        let stack = try await Stack(size: 4 << 20, delayMilliseconds: 30)
        var generator = SystemRandomNumberGenerator()
        let reads = (0..<48).map { _ in
            let start = Int.random(in: 0..<(2 << 20) / 4096, using: &generator) * 4096
            return start..<start + Int.random(in: 1...96, using: &generator) * 4096
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for bytes in reads {
                group.addTask { try await stack.read(bytes) }
            }
            try await group.waitForAll()
        }
        let ranges = stack.fetchedRanges.sorted { $0.lowerBound < $1.lowerBound }
        #expect(!ranges.isEmpty)
        for (earlier, later) in zip(ranges, ranges.dropFirst()) {
            #expect(earlier.upperBound < later.lowerBound, "\(earlier) and \(later) overlap")
        }
        let counters = stack.scheduler.counters
        #expect(counters.joinedChunks > 0)
    }

    /// A miss as the NBD server makes it (the immediate answer first, then
    /// the read that waits) looks at the stored bitmap once and fetches once.
    @Test func aMissReadsTheStoredBitmapOnceAndFetchesOnce() async throws {
        let stack = try await Stack(size: 4 << 20)
        let wanted: Range<UInt64> = 1 << 20..<(1 << 20) + 4096
        let pagesReadAtOpen = stack.cache.storedPageReads
        var reply = [UInt8](repeating: 0, count: wanted.count)
        #expect(try reply.withUnsafeMutableBytes { try stack.disk.readBytesImmediately(wanted, into: $0) } == false)
        try await stack.read(Int(wanted.lowerBound)..<Int(wanted.upperBound))
        #expect(stack.cache.storedPageReads - pagesReadAtOpen == 1)
        #expect(stack.fetchedRanges == [1 << 20...(1 << 20) + (64 << 10) - 1], "one request, of the read's chunk")
        await stack.scheduler.finishStoring()
        #expect(try reply.withUnsafeMutableBytes { try stack.disk.readBytesImmediately(wanted, into: $0) })
        #expect(stack.cache.storedPageReads - pagesReadAtOpen == 1, "a hit reads no page")
    }

    /// A small miss as the NBD server makes it now: the immediate answer,
    /// then the same read bringing its bytes with no task, then the
    /// pending read. The stored bitmap is looked at once, one request is
    /// made, and the pending read has the image's bytes.
    @Test(.timeLimit(.minutes(5))) func aMissBroughtWithNoTaskFetchesOnceAndReadsTheBytes() async throws {
        let stack = try await Stack(size: 4 << 20)
        let wanted: Range<UInt64> = 3 << 20..<(3 << 20) + 4096
        let pagesReadAtOpen = stack.cache.storedPageReads
        var reply = [UInt8](repeating: 0, count: wanted.count)
        #expect(try reply.withUnsafeMutableBytes { try stack.disk.readBytesImmediately(wanted, into: $0) } == false)
        let (told, tell) = AsyncStream.makeStream(of: Result<Void, any Error>.self)
        let attempt = try reply.withUnsafeMutableBytes { try stack.disk.readBytesImmediately(wanted, into: $0) { tell.yield($0) } }
        guard case let .bringing(pending) = attempt else {
            Issue.record("the miss was not brought without a task: \(attempt)")
            return
        }
        for await outcome in told {
            try outcome.get()
            break
        }
        #expect(try reply.withUnsafeMutableBytes { try pending.read(into: $0) })
        #expect(reply == Array(stack.content[Int(wanted.lowerBound)..<Int(wanted.upperBound)]))
        #expect(stack.cache.storedPageReads - pagesReadAtOpen == 1)
        #expect(stack.fetchedRanges == [3 << 20...(3 << 20) + (64 << 10) - 1], "one request, of the read's chunk")
        await stack.scheduler.finishStoring()
    }

    /// A large read that misses waits on parallel requests of at most the
    /// foreground limit, not one long one.
    @Test func aLargeMissIsSplitIntoParallelRequests() async throws {
        let stack = try await Stack(size: 20 << 20)
        try await stack.read(0..<(20 << 20))
        #expect(Set(stack.fetchedRanges) == [0...8388607, 8388608...16777215, 16777216...20971519])
    }

    @Test func sequentialReadIsFewLargeRequests() async throws {
        let size = 48 << 20
        let stack = try await Stack(size: size)
        let readSize = 128 << 10
        for offset in stride(from: 0, to: size, by: readSize) {
            try await stack.read(offset..<offset + readSize)
            // The reader waits for what its read started: the requests made
            // depend on the rules, not on whether a busy machine let the
            // reader overtake its readahead.
            await stack.scheduler.finishStoring()
        }
        let ranges = stack.fetchedRanges
        let fetched = ranges.reduce(0) { $0 + $1.count }
        #expect(ranges.count <= size / (1 << 20) + 10, "\(ranges.count) requests")
        #expect(Double(fetched) <= 1.05 * Double(size), "\(fetched) bytes fetched")
        let counters = stack.scheduler.counters
        #expect(counters.reads == size / readSize)
        #expect(counters.bytesFetched[.readahead, default: 0] > UInt64(size / 2))
    }

    /// Readahead held back by its in-flight limit resumes where it stopped,
    /// leaving no holes for the reader to fall into.
    @Test func limitedReadaheadLeavesNoHoles() async throws {
        var policy = FetchPolicy()
        policy.readaheadInFlightLimit = 1 << 20
        let size = 16 << 20
        let stack = try await Stack(size: size, delayMilliseconds: 5, policy: policy)
        let readSize = 128 << 10
        for offset in stride(from: 0, to: size, by: readSize) {
            try await stack.read(offset..<offset + readSize)
            await stack.scheduler.finishStoring()
        }
        // Only the two reads before the stream is found sequential miss;
        // holes would make most reads miss (95 of 128 before the fix).
        let counters = stack.scheduler.counters
        let misses = counters.requests[.read, default: 0]
        #expect(misses <= 2, "\(misses) of \(size / readSize) reads missed the readahead")
    }

    @Test func randomReadsFetchOnlyTheirChunks() async throws {
        let stack = try await Stack(size: 32 << 20)
        var generator = SystemRandomNumberGenerator()
        var chunks = Set<Int>()
        // Every other 4 KiB block: no read starts where another ended.
        for _ in 0..<100 {
            let start = Int.random(in: 0..<(32 << 20) / 8192, using: &generator) * 8192
            chunks.insert(start / (64 << 10))
            try await stack.read(start..<start + 4096)
        }
        let fetched = stack.fetchedRanges.reduce(0) { $0 + $1.count }
        #expect(fetched == chunks.count * (64 << 10))
    }

    /// The server holds every answer, so the fill's requests stay open:
    /// it may take three of the four connections, and the read's request is
    /// the fourth, made while the fill still has requests queued.
    @Test(.timeLimit(.minutes(5))) func readsDoNotQueueBehindAFill() async throws {
        var policy = FetchPolicy()
        policy.backgroundRequestLimit = 64 << 10
        let stack = try await Stack(size: 8 << 20, connections: 4, policy: policy, fault: .heldUntilReleased)
        let chunkCount = stack.cache.chunkCount
        let fill = Task { try await stack.scheduler.fill(0..<chunkCount / 2) }
        try await Self.waitFor { stack.fetchedRanges.count == 3 }
        let wanted = (6 << 20)..<(6 << 20) + 4096
        let read = Task { try await stack.read(wanted) }
        try await Self.waitFor { stack.fetchedRanges.count == 4 }
        #expect(stack.fetchedRanges[3].contains(wanted.lowerBound), "\(stack.fetchedRanges)")
        stack.server.releaseHeld()
        try await read.value
        let outcome = try await fill.value
        #expect(outcome.requests == chunkCount / 2)
    }

    /// Polls `condition` until it holds; the test's own time limit ends a
    /// wait that never does.
    private static func waitFor(_ condition: () -> Bool) async throws {
        while !condition() {
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
