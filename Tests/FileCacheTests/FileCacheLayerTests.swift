import FileCache
import Foundation
import ImageModel
import LayeredDisk
import Synchronization
import SystemPackage
import Testing

@Suite("File cache layer")
struct FileCacheLayerTests {
    @Test func newCacheIsEmptyAndReusedOnReopen() throws {
        let directory = CacheDirectory()
        let (cache, first) = try FileCacheLayer.open(at: directory.path, for: TestImage.header())
        #expect(first == .created)
        #expect(cache.chunkCount == 17)
        #expect(cache.presentChunkCount == 0)
        #expect(cache.sectorCount == TestImage.sectorCount)
        let (_, second) = try FileCacheLayer.open(at: directory.path, for: TestImage.header())
        #expect(second == .reused)
    }

    @Test func readsFillWholeChunksThatSurviveReopening() async throws {
        let directory = CacheDirectory()
        let (cache, _) = try FileCacheLayer.open(at: directory.path, for: TestImage.header())
        let disk = try await cache.disk(over: TestImage.layer())

        // Sectors 100..<400 cover chunk 1 (128..<256) and chunk 2 (256..<384) whole.
        #expect(try await disk.read(at: 100, count: 300) == Array(TestImage.bytes[100 * 512..<400 * 512]))
        #expect(cache.presentChunkCount == 2)
        #expect(try await cache.missingRuns(in: 0..<17) == [0..<1, 3..<17])

        let (reopened, outcome) = try FileCacheLayer.open(at: directory.path, for: TestImage.header())
        #expect(outcome == .reused)
        #expect(reopened.presentChunkCount == 2)
        let offline = try await reopened.disk(over: OfflineLayer(sectorCount: reopened.sectorCount, sectorSize: 512))
        #expect(try await offline.read(at: 128, count: 256) == Array(TestImage.bytes[128 * 512..<384 * 512]))
        await #expect(throws: CacheFileError.notCached(sectors: 384..<400)) {
            try await offline.read(at: 128, count: 272)
        }
    }

    @Test func shortLastChunkIsStoredWhenReadToTheEnd() async throws {
        let directory = CacheDirectory()
        let (cache, _) = try FileCacheLayer.open(at: directory.path, for: TestImage.header())
        let disk = try await cache.disk(over: TestImage.layer())
        _ = try await disk.read(at: 0, count: Int(TestImage.sectorCount))
        #expect(cache.presentChunkCount == 17)
        let offline = try await cache.disk(over: OfflineLayer(sectorCount: cache.sectorCount, sectorSize: 512))
        #expect(try await offline.read(at: 0, count: Int(TestImage.sectorCount)) == TestImage.bytes)
    }

    @Test func presentChunksAreNeverOverwritten() async throws {
        let directory = CacheDirectory()
        let (cache, _) = try FileCacheLayer.open(at: directory.path, for: TestImage.header())
        let original = Array(TestImage.bytes[0..<65536])
        try await cache.writeNoOverwrite(original[...], at: 0)
        try await cache.writeNoOverwrite(ArraySlice(repeating: 0xEE, count: 131_072), at: 0)
        let offline = try await cache.disk(over: OfflineLayer(sectorCount: cache.sectorCount, sectorSize: 512))
        #expect(try await offline.read(at: 0, count: 128) == original)
        #expect(try await offline.read(at: 128, count: 128) == Array(repeating: 0xEE, count: 65536))
    }

    /// Two openers of one cache (as two processes would be) see each other's
    /// durable chunks without refetching.
    @Test func secondOpenerSeesChunksTheFirstCommitted() async throws {
        let directory = CacheDirectory()
        let (first, _) = try FileCacheLayer.open(at: directory.path, for: TestImage.header())
        let (second, _) = try FileCacheLayer.open(at: directory.path, for: TestImage.header())
        try await first.writeNoOverwrite(TestImage.bytes[0..<(3 * 65536)], at: 0)
        try await second.writeNoOverwrite(TestImage.bytes[(5 * 65536)..<(6 * 65536)], at: 5 * 128)
        #expect(try await second.missingRuns(in: 0..<8) == [3..<5, 6..<8])
        #expect(try await first.missingRuns(in: 0..<8) == [3..<5, 6..<8])
        let (third, _) = try FileCacheLayer.open(at: directory.path, for: TestImage.header())
        #expect(third.presentChunkCount == 4)
    }

    @Test func defaultLocationFollowsXDG() throws {
        #expect(CacheLocation.defaultRoot(environment: ["XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"]) == "/x/cache/lazydisk")
        #expect(CacheLocation.defaultRoot(environment: ["HOME": "/home/u"]) == "/home/u/.cache/lazydisk")
        let location = CacheLocation(root: "/c")
        let strong = RemoteIdentity(url: "https://bucket.example.com/images/disk.img", size: 1, etag: "\"abc\"", lastModified: nil)
        let signed = try location.directory(for: ImageURL("https://bucket.example.com/images/disk.img?sig=SECRET"), identity: strong)
        let other = try location.directory(for: ImageURL("https://bucket.example.com/images/disk.img?sig=OTHER"), identity: strong)
        #expect(signed == other)
        #expect(!signed.string.contains("SECRET"))
        #expect(signed.string.hasPrefix("/c/bucket.example.com_images_disk.img-"))
        #expect(try location.directory(for: ImageURL("https://bucket.example.com/images/disk2.img"), identity: strong) != signed)
    }

    /// Without a strong ETag the server has not said which object a query
    /// names, so each query gets a cache of its own; the query is hashed,
    /// never written.
    @Test func onlyAStrongETagLetsQueriesShareACache() throws {
        let location = CacheLocation(root: "/c")
        let first = try ImageURL("https://example.com/download?id=1&token=SECRET")
        let second = try ImageURL("https://example.com/download?id=2&token=SECRET")
        let identities = [
            RemoteIdentity(url: first.withoutQuery, size: 1, etag: "W/\"weak\"", lastModified: nil),
            RemoteIdentity(url: first.withoutQuery, size: 1, etag: nil, lastModified: "Wed, 01 Jan 2025 00:00:00 GMT"),
            RemoteIdentity(url: first.withoutQuery, size: 1, etag: nil, lastModified: nil),
        ]
        for identity in identities {
            let one = location.directory(for: first, identity: identity)
            #expect(one != location.directory(for: second, identity: identity), "\(identity)")
            #expect(!one.string.contains("SECRET") && !one.string.contains("id=1"))
        }
        let strong = RemoteIdentity(url: first.withoutQuery, size: 1, etag: "\"abc\"", lastModified: nil)
        #expect(location.directory(for: first, identity: strong) == location.directory(for: second, identity: strong))
        let bare = try ImageURL("https://example.com/download")
        #expect(location.directory(for: bare, identity: identities[2]) == location.directory(for: bare, identity: strong))
    }
}

@Suite("Boot trace format")
struct BootTraceFormatTests {
    @Test func roundTripsAndJoinsAdjacentChunks() throws {
        let trace = BootTrace(chunkBytes: 65536, chunks: [7, 8, 2, 100])
        #expect(try BootTrace(decoding: trace.encoded) == trace)
        let chunk: UInt64 = 65536
        let expected: [Range<UInt64>] = [7 * chunk..<9 * chunk, 2 * chunk..<3 * chunk, 100 * chunk..<100 * chunk + 10]
        #expect(trace.byteRanges(within: 100 * chunk + 10) == expected)
    }

    enum Damage: CaseIterable {
        case empty, truncated, flippedEntry, wrongMagic

        func apply(to bytes: [UInt8]) -> [UInt8] {
            var copy = bytes
            switch self {
            case .empty: return []
            case .truncated: return Array(bytes.dropLast(3))
            case .flippedEntry: copy[21] ^= 1
            case .wrongMagic: copy[0] = 0
            }
            return copy
        }
    }

    @Test(arguments: Damage.allCases)
    func damageIsAnError(_ damage: Damage) {
        let encoded = BootTrace(chunkBytes: 65536, chunks: [1, 2, 3]).encoded
        #expect(throws: CacheFileError.self) { try BootTrace(decoding: damage.apply(to: encoded)) }
    }
}

extension BootTraceFormatTests {
    /// Processes sharing a cache save their traces at once: every save
    /// succeeds, the trace left is one of theirs, whole, and nothing is left
    /// beside it. (With one file beside it for all, saves failed renaming a
    /// file another had renamed, and traces of different lengths mixed.)
    @Test func tracesSavedAtOnceLeaveOneWholeTrace() throws {
        let directory = CacheDirectory()
        try FileManager.default.createDirectory(atPath: directory.path.string, withIntermediateDirectories: true)
        let traces = (1...8).map { BootTrace(chunkBytes: 65536, chunks: Array(0..<UInt32($0 * 100))) }
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: traces.count) { index in
            for _ in 0..<20 {
                do {
                    try traces[index].save(to: directory.path)
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        let left = try #require(try BootTrace.load(from: directory.path))
        #expect(traces.contains(left))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path.string) == [BootTrace.fileName])
    }
}
