import Foundation
import HTTPTestServers
import Testing

/// One object's bytes are never served for another: when a URL's query
/// selects the object (`download?id=N`), only a strong ETag lets two queries
/// share a cache; in every other validator combination each query has its
/// own, and no read ever mixes two objects.
@Suite("Objects told apart by their query")
struct ObjectIdentityTests {
    static let content = (0..<(256 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 8) }

    static func object(_ id: Int) -> Data {
        Data(content.map { $0 ^ UInt8(id) })
    }

    @Test(arguments: FaultServer.Validators.allCases)
    func queriesThatSelectObjectsNeverShareBytes(validators: FaultServer.Validators) async throws {
        let server = try await FaultServer.start(content: Self.content, fault: .objectsByQuery(validators))
        let caches = try TemporaryDirectory()
        for id in [1, 2, 1, 2] {
            let url = server.base + "/image?id=\(id)&token=SECRET"
            let read = try await LazyDiskRun.run(["cat", url, "--format", "raw", "--cache", caches.url.path])
            #expect(read.status == 0, "\(validators) id \(id): \(read.error)")
            #expect(read.output == Self.object(id), "\(validators): id \(id) got other bytes")
            let part = try await LazyDiskRun.run([
                "cat", url, "--format", "raw", "--cache", caches.url.path, "--offset", "100K", "--length", "64K",
            ])
            #expect(part.output == Self.object(id)[(100 << 10)..<(164 << 10)], "\(validators): a part of id \(id) got other bytes")
        }
        let directories = try FileManager.default.contentsOfDirectory(atPath: caches.url.path)
        #expect(directories.count == (validators == .strongETag ? 1 : 2), "\(directories)")
        #expect(!directories.contains { $0.contains("SECRET") || $0.contains("id=") })
    }

    /// Offline, a query's own cache answers; a shared cache answers only a
    /// URL whose server proved the bytes with a strong ETag.
    @Test func offlineReadsTheQuerysOwnCache() async throws {
        let server = try await FaultServer.start(content: Self.content, fault: .objectsByQuery(.lastModifiedOnly))
        let caches = try TemporaryDirectory()
        for id in [1, 2] {
            let pull = try await LazyDiskRun.run(["pull", server.base + "/image?id=\(id)", "--format", "raw", "--cache", caches.url.path])
            #expect(pull.status == 0, "\(pull.error)")
        }
        for id in [2, 1] {
            let offline = try await LazyDiskRun.run(["cat", server.base + "/image?id=\(id)", "--offline", "--cache", caches.url.path])
            #expect(offline.status == 0, "\(offline.error)")
            #expect(offline.output == Self.object(id))
        }
    }
}
