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

    /// The most bytes a trace of a disk of `diskBytes` can take: one entry
    /// for each of its chunks at the smallest chunk size, and never more
    /// than 64 MiB. A trace from elsewhere is not read past it.
    public static func largestEncoding(forDiskBytes diskBytes: UInt64) -> Int {
        let entries = min(diskBytes / UInt64(smallestChunkBytes) + 1, UInt64(largestEncodingBytes / 4))
        return fixedBytes + 8 + Int(entries) * 4
    }

    /// Checks what decoding cannot: the chunk size is a power of two from
    /// 4 KiB to 1 GiB, and no chunk is named twice or lies past the disk.
    public func check(forDiskBytes diskBytes: UInt64) throws(CacheFileError) {
        guard chunkBytes.nonzeroBitCount == 1, (Self.smallestChunkBytes...Self.largestChunkBytes).contains(chunkBytes) else {
            throw .corrupt("trace chunk size \(chunkBytes) is not a power of two from 4 KiB to 1 GiB")
        }
        let chunkCount = (diskBytes + UInt64(chunkBytes) - 1) / UInt64(chunkBytes)
        if let past = chunks.first(where: { UInt64($0) >= chunkCount }) {
            throw .corrupt("trace names chunk \(past), past the disk's \(chunkCount) chunks of \(chunkBytes) bytes")
        }
        guard Set(chunks).count == chunks.count else { throw .corrupt("trace names a chunk more than once") }
    }

    static let smallestChunkBytes: UInt32 = 4096
    static let largestChunkBytes: UInt32 = 1 << 30
    static let largestEncodingBytes = 64 << 20

    /// The trace stored in the cache directory `directory`, if there is one.
    public static func load(from directory: FilePath) throws(CacheFileError) -> BootTrace? {
        try CacheFiles.contents(of: directory.appending(fileName)).map { bytes throws(CacheFileError) in
            try BootTrace(decoding: bytes)
        }
    }

    /// Stores the trace in the cache directory `directory`, replacing any
    /// there; a crash leaves the old trace or the new one.
    public func save(to directory: FilePath) throws(CacheFileError) {
        try write(to: directory.appending(Self.fileName))
    }

    /// Writes the trace as a file of its own at `path` (to publish it
    /// beside the image), replacing any there as ``save(to:)`` does.
    public func write(to path: FilePath) throws(CacheFileError) {
        try CacheFiles.replaceFile(at: path, with: encoded)
    }
}
