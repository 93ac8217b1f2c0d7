import LayeredDisk
import SystemPackage

/// The order in which a guest first touched the chunks of its disk, recorded
/// while serving and replayed first on the next cold start (`serve`) or
/// `pull --trace`, so what a boot needs arrives before the boot asks for it.
/// overlaybd and Nydus call this a trace or a prefetch list.
///
/// Stored as `trace` in the cache directory; the format is in
/// docs/trace-format.md.
public struct BootTrace: Sendable, Hashable {
    static let magic = Array("LZDTRACE".utf8)
    static let currentVersion: UInt32 = 1
    static let fixedBytes = 8 + 4 + 4 + 4
    public static let fileName = "trace"

    /// The chunk size the indexes count in.
    public let chunkBytes: UInt32
    /// Chunk indexes, each once, in the order they were first read.
    public let chunks: [UInt32]

    public init(chunkBytes: UInt32, chunks: [UInt32]) {
        self.chunkBytes = chunkBytes
        self.chunks = chunks
    }

    /// The byte ranges of the disk the trace names, in order, adjacent
    /// chunks joined; clamped to a disk of `diskBytes`.
    public func byteRanges(within diskBytes: UInt64) -> [Range<UInt64>] {
        let size = UInt64(chunkBytes)
        var ranges: [Range<UInt64>] = []
        for chunk in chunks {
            let start = UInt64(chunk) * size
            guard start < diskBytes else { continue }
            let range = start..<min(start + size, diskBytes)
            if let last = ranges.last, last.upperBound == range.lowerBound {
                ranges[ranges.count - 1] = last.lowerBound..<range.upperBound
            } else {
                ranges.append(range)
            }
        }
        return ranges
    }

    public var encoded: [UInt8] {
        var writer = ByteWriter()
        writer.append(Self.magic)
        writer.append(Self.currentVersion)
        writer.append(chunkBytes)
        writer.append(UInt32(chunks.count))
        for chunk in chunks {
            writer.append(chunk)
        }
        writer.append(Checksum.fnv1a(writer.bytes))
        return writer.bytes
    }

    /// Decodes a stored trace; throws ``CacheFileError`` for anything but a
    /// whole, intact trace of this format version.
    public init(decoding bytes: [UInt8]) throws(CacheFileError) {
        guard bytes.count >= Self.fixedBytes + 8 else { throw .truncated("trace is \(bytes.count) bytes") }
        var reader = ByteReader(bytes)
        guard reader.read(count: Self.magic.count) == Self.magic else { throw .corrupt("not a lazydisk trace") }
        var checksum = ByteReader(Array(bytes.suffix(8)))
        guard checksum.read(UInt64.self) == Checksum.fnv1a(bytes.dropLast(8)) else {
            throw .corrupt("trace checksum does not match")
        }
        let version = reader.read(UInt32.self)
        guard version == Self.currentVersion else {
            throw .corrupt("trace format version \(version ?? 0) is not supported (this build reads \(Self.currentVersion))")
        }
        guard let chunkBytes = reader.read(UInt32.self), chunkBytes > 0,
              let count = reader.read(UInt32.self), Self.fixedBytes + Int(count) * 4 + 8 == bytes.count
        else {
            throw .corrupt("trace length does not match its entry count")
        }
        var chunks: [UInt32] = []
        chunks.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let chunk = reader.read(UInt32.self) else { throw .truncated("trace entries") }
            chunks.append(chunk)
        }
        self.init(chunkBytes: chunkBytes, chunks: chunks)
    }

    /// The trace stored in the cache directory `directory`, if there is one.
    public static func load(from directory: FilePath) throws(CacheFileError) -> BootTrace? {
        try CacheFiles.contents(of: directory.appending(fileName)).map { bytes throws(CacheFileError) in
            try BootTrace(decoding: bytes)
        }
    }

    /// Stores the trace in the cache directory `directory`, replacing any
    /// there; a crash leaves the old trace or the new one.
    public func save(to directory: FilePath) throws(CacheFileError) {
        try CacheFiles.replaceFile(at: directory.appending(Self.fileName), with: encoded)
    }
}
