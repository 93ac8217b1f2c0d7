import FileCache
import Foundation
import LayeredDisk
import SystemPackage
import Testing

/// Damaged or stale caches are rebuilt with a reason, never served.
@Suite("File cache recovery")
struct FileCacheRecoveryTests {
    /// A cache holding chunks 0 and 1.
    private func filledCache() async throws -> CacheDirectory {
        let directory = CacheDirectory()
        let (cache, _) = try FileCacheLayer.open(at: directory.path, for: TestImage.header())
        try await cache.writeNoOverwrite(TestImage.bytes[0..<131_072], at: 0)
        return directory
    }

    private func patch(_ file: String, at offset: UInt64, with bytes: [UInt8]) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file))
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: Data(bytes))
        try handle.close()
    }

    private func truncate(_ file: String, to size: UInt64) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file))
        try handle.truncate(atOffset: size)
        try handle.close()
    }

    private func expectRebuilt(_ directory: CacheDirectory, header: CacheHeader = TestImage.header(), because reason: String) throws {
        let (cache, outcome) = try FileCacheLayer.open(at: directory.path, for: header)
        guard case let .rebuilt(found) = outcome else {
            Issue.record("expected a rebuild, got \(outcome)")
            return
        }
        #expect(found.contains(reason), "\(found)")
        #expect(cache.presentChunkCount == 0)
    }

    @Test func changedRemoteIdentity() async throws {
        try expectRebuilt(try await filledCache(), header: TestImage.header(etag: "\"v2\""), because: "ETag \"v1\"")
    }

    @Test func corruptHeader() async throws {
        let directory = try await filledCache()
        try patch(directory.file("meta"), at: 20, with: [0xFF])
        try expectRebuilt(directory, because: "header checksum does not match")
    }

    @Test func notACache() async throws {
        let directory = try await filledCache()
        try patch(directory.file("meta"), at: 0, with: Array("GARBAGE!".utf8))
        try expectRebuilt(directory, because: "no lazydisk cache magic")
    }

    @Test func truncatedMetadata() async throws {
        let directory = try await filledCache()
        try truncate(directory.file("meta"), to: 100)
        try expectRebuilt(directory, because: "truncated")
    }

    @Test func truncatedBitmap() async throws {
        let directory = try await filledCache()
        try truncate(directory.file("meta"), to: 4096 + 10)
        try expectRebuilt(directory, because: "truncated")
    }

    @Test func unknownFormatVersion() async throws {
        let directory = try await filledCache()
        var header = try Data(contentsOf: URL(fileURLWithPath: directory.file("meta")))[0..<4096]
        header[header.startIndex + 8] = 9
        // A valid checksum for the patched header, so the version is what fails.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in header.prefix(4088) {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        try patch(directory.file("meta"), at: 8, with: [9])
        try patch(directory.file("meta"), at: 4088, with: withUnsafeBytes(of: hash.littleEndian, Array.init))
        try expectRebuilt(directory, because: "version 9 is not supported")
    }

    @Test func shortDataFile() async throws {
        let directory = try await filledCache()
        try truncate(directory.file("data"), to: 4096)
        try expectRebuilt(directory, because: "data file is 4096 bytes")
    }

    @Test func missingDataFile() async throws {
        let directory = try await filledCache()
        try FileManager.default.removeItem(atPath: directory.file("data"))
        try expectRebuilt(directory, because: "no cache at")
    }

    /// A damaged bitmap page is dropped (its chunks count as absent), not served.
    @Test func corruptBitmapPageIsDiscarded() async throws {
        let directory = try await filledCache()
        try patch(directory.file("meta"), at: 4096, with: [0xFF, 0xFF])
        let (cache, outcome) = try FileCacheLayer.open(at: directory.path, for: TestImage.header())
        #expect(outcome == .reused)
        #expect(cache.discardedPages == 1)
        #expect(cache.presentChunkCount == 0)
        let offline = try await cache.disk(over: OfflineLayer(sectorCount: cache.sectorCount, sectorSize: 512))
        await #expect(throws: CacheFileError.self) { try await offline.read(at: 0, count: 1) }
    }

    @Test func offlineWithoutACacheIsAClearError() {
        let directory = CacheDirectory()
        #expect(throws: CacheFileError.self) { try FileCacheLayer.openExisting(at: directory.path) }
    }
}
