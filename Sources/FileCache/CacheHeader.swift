import ImageModel


/// The first 4 KiB of a cache's metadata file: what the cache holds and for
/// which remote object. See docs/cache-format.md.
public struct CacheHeader: Sendable, Hashable {
    static let magic = Array("LZDCACHE".utf8)
    public static let currentVersion: UInt32 = 1
    /// The header occupies one block; the checksum is its last 8 bytes.
    static let size = 4096
    /// Larger chunks would be no cache at all; the bound keeps a damaged
    /// header's chunk arithmetic far from overflow.
    static let largestChunkSize: UInt32 = 1 << 30

    public var sectorSize: UInt32
    /// Bytes of disk the cache covers: the layer's sector count times its
    /// sector size.
    public var diskSize: UInt64
    /// The presence granularity: a chunk is cached whole or not at all.
    public var chunkSize: UInt32
    /// How the remote object maps to the disk (`raw`, `vhd`).
    public var format: String
    /// The remote object the data came from; a mismatch means stale data.
    public var identity: RemoteIdentity

    public init(sectorSize: UInt32, diskSize: UInt64, chunkSize: UInt32, format: String, identity: RemoteIdentity) {
        self.sectorSize = sectorSize
        self.diskSize = diskSize
        self.chunkSize = chunkSize
        self.format = format
        self.identity = identity
    }

    public var chunkCount: Int { Int((diskSize + UInt64(chunkSize) - 1) / UInt64(chunkSize)) }

    func encoded() throws(CacheFileError) -> [UInt8] {
        var writer = ByteWriter()
        writer.append(Self.magic)
        writer.append(Self.currentVersion)
        writer.append(sectorSize)
        writer.append(diskSize)
        writer.append(chunkSize)
        writer.append(UInt32(0))
        writer.append(identity.size)
        writer.append(string: format)
        writer.append(string: identity.url)
        writer.append(string: identity.etag)
        writer.append(string: identity.lastModified)
        // Headers written before verified images end here: they read as "".
        writer.append(string: identity.rootHash ?? "")
        var bytes = writer.bytes
        guard bytes.count <= Self.size - 8 else { throw .headerTooLarge }
        bytes += Array(repeating: 0, count: Self.size - 8 - bytes.count)
        var checksum = ByteWriter()
        checksum.append(Checksum.fnv1a(bytes))
        return bytes + checksum.bytes
    }

    init(decoding bytes: [UInt8]) throws(CacheFileError) {
        guard bytes.count == Self.size else { throw .truncated("header is \(bytes.count) of \(Self.size) bytes") }
        guard bytes.starts(with: Self.magic) else { throw .corrupt("no lazydisk cache magic") }
        var trailer = ByteReader(Array(bytes[(Self.size - 8)...]))
        guard trailer.read(UInt64.self) == Checksum.fnv1a(bytes[..<(Self.size - 8)]) else {
            throw .corrupt("header checksum does not match")
        }
        var reader = ByteReader(bytes)
        _ = reader.read(count: Self.magic.count)
        guard let version = reader.read(UInt32.self) else { throw .corrupt("header ends early") }
        guard version == Self.currentVersion else { throw .unsupportedVersion(version) }
        guard let sectorSize = reader.read(UInt32.self), let diskSize = reader.read(UInt64.self),
              let chunkSize = reader.read(UInt32.self), let _ = reader.read(UInt32.self),
              let size = reader.read(UInt64.self),
              let format = reader.readString(), let format,
              let url = reader.readString(), let url,
              let etag = reader.readString(), let lastModified = reader.readString(),
              let rootHash = reader.readString()
        else {
            throw .corrupt("header fields are malformed")
        }
        guard sectorSize > 0, sectorSize.nonzeroBitCount == 1, chunkSize >= sectorSize, chunkSize % sectorSize == 0 else {
            throw .corrupt("sector size \(sectorSize) and chunk size \(chunkSize) do not fit together")
        }
        guard diskSize <= RemoteIdentity.largestSize, size <= RemoteIdentity.largestSize, diskSize % UInt64(sectorSize) == 0,
              chunkSize <= Self.largestChunkSize
        else {
            throw .corrupt("disk size \(diskSize), object size \(size) or chunk size \(chunkSize) is out of range")
        }
        self.init(
            sectorSize: sectorSize, diskSize: diskSize, chunkSize: chunkSize, format: format,
            identity: RemoteIdentity(
                url: url, size: size, etag: etag, lastModified: lastModified, rootHash: rootHash.flatMap { $0.isEmpty ? nil : $0 }))
    }

    /// Whether a cache with this header holds the data `expected` describes:
    /// the same header, or, for bytes verified against a root hash, the same
    /// disk and root hash under any URL and validators.
    public func holdsData(of expected: CacheHeader) -> Bool {
        guard let rootHash = identity.rootHash, rootHash == expected.identity.rootHash else { return self == expected }
        var same = expected
        same.identity = identity
        return self == same
    }
}
