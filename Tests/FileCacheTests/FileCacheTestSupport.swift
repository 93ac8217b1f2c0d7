import FileCache
import Foundation
import HTTPTestServers
import ImageModel
import LayeredDisk
import SystemPackage

/// A cache directory of its own, removed afterwards.
final class CacheDirectory: Sendable {
    let path: FilePath

    init() {
        path = FilePath(TestTemporaryRoot.uniquePath("lazydisk-cache").path)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path.string)
    }

    func file(_ name: String) -> String { path.appending(name).string }
}

/// A 1 MiB + 1 sector image and the header its cache gets (64 KiB chunks, so
/// the last chunk is short).
enum TestImage {
    static let sectorCount: UInt64 = 2049
    static let bytes: [UInt8] = (0..<Int(sectorCount) * 512).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }

    static func header(etag: String = "\"v1\"", chunkSize: UInt32 = 64 * 1024) -> CacheHeader {
        CacheHeader(
            sectorSize: 512, diskSize: sectorCount * 512, chunkSize: chunkSize, format: "raw",
            identity: RemoteIdentity(url: "http://example.com/disk.img", size: sectorCount * 512, etag: etag, lastModified: nil))
    }

    static func layer() throws -> BlockDeviceLayer {
        BlockDeviceLayer(try InMemoryDisk(bytes: bytes, readOnly: true))
    }
}

extension FileCacheLayer {
    /// The stack `lazydisk cat` builds: this cache as a read cache over `below`.
    func disk(over below: some DiskLayer) async throws -> LayeredDisk {
        try await LayeredDisk(readOnly: true, layers: [LayerConfiguration(self, readCache: true), LayerConfiguration(below)])
    }
}
