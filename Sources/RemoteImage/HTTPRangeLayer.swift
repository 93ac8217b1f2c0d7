import Fetching
import ImageModel
import LayeredDisk
import Verity

/// The bottom layer of every lazydisk stack: a read-only disk whose sectors
/// come from a ``RemoteImage`` by HTTP range requests. Every sector is present.
///
/// The cache above it is filled from it by the fetch pipeline
/// (``scheduler(filling:policy:onStoreFailure:)``), which streams its bytes
/// into the cache; the layer's own reads, one range request each, serve only
/// what a cache refused (a full disk).
///
/// A raw image whose size is not a whole number of sectors is rounded up: the
/// last sector is padded with zeros, so no byte of the image is hidden. A
/// fixed VHD exposes its footer's current size and unique id, never the footer.
public struct HTTPRangeLayer: DiskLayer {
    public static let logicalSectorSize = 512
    public let image: RemoteImage
    /// Where the image's bytes come from: the image itself, or
    /// ``verification``.
    public let source: any RangeSource
    /// The image's bytes checked against its hash tree, when it has one.
    public let verification: VerifiedSource?
    public let format: ImageFormat
    /// Bytes of disk data in the object (excluding any VHD footer).
    public let contentSize: UInt64
    public let diskID: DiskID?
    /// What a user should know about the image's format, for `info`.
    public let notice: String?

    /// Wraps an opened image, whose bytes are checked against `hashTree`
    /// when one is given (the image must then serve ranges). With `format`
    /// nil, the qcow2 magic in the first bytes selects ``ImageFormat/qcow2``,
    /// a valid VHD cookie in the last 512 bytes ``ImageFormat/vhd``, anything
    /// else ``ImageFormat/raw`` (with a ``notice`` when it is a format
    /// lazydisk does not decode).
    public static func open(_ image: RemoteImage, format: ImageFormat? = nil, hashTree: HashTree? = nil) async throws -> HTTPRangeLayer {
        let size = image.identity.size
        guard image.servesRanges else {
            guard hashTree == nil else {
                throw RemoteImageError.rangesNotSupported(
                    url: image.url.description,
                    answer: "it sends the whole object to a range request; lazydisk verifies an image against its hash tree as it fetches ranges")
            }
            return try wholeObjectLayer(image, format: format)
        }
        let verification = hashTree.map { VerifiedSource(image, tree: $0, image: image.url.description) }
        let source: any RangeSource = verification ?? image
        let reads = detectionReads(format: format, size: size)
        // Bytes the image's open read beside its probe are taken as they
        // are, unless they must be verified.
        @Sendable func bytes(_ range: Range<UInt64>?) async throws -> [UInt8] {
            guard let range else { return [] }
            if verification == nil, let read = image.bytesReadAtOpen(range) {
                return read
            }
            return try await source.read(range, for: .read)
        }
        async let startBytes = bytes(reads.start)
        async let footerBytes = bytes(reads.footer)
        let (start, footer) = try await (startBytes, footerBytes)
        let detection = try FormatDetection(requested: format, start: start, footer: footer, objectSize: size)
        return HTTPRangeLayer(
            image: image, source: source, verification: verification, format: detection.format, contentSize: detection.contentSize,
            diskID: detection.vhdFooter?.uniqueID, notice: detection.notice)
    }

    /// The edges ``open(_:format:hashTree:)`` reads to tell `format`, for
    /// ``RemoteImage/open(_:client:credentials:retryPolicy:logger:reading:)``
    /// to read beside its probe: its first sector, for qcow2's magic, unless
    /// a format is given; its last 512 bytes, for a VHD's footer, unless a
    /// format other than VHD is given. None for an image `verified` against
    /// a hash tree, whose detection reads whole blocks through the tree.
    public static func edgesToDetect(_ format: ImageFormat?, verified: Bool = false) -> EdgeReads {
        guard !verified else { return EdgeReads() }
        return EdgeReads(
            leading: format == nil ? detectionStartSize : 0,
            trailing: format == nil || format == .vhd ? UInt64(VHDFooter.size) : 0)
    }

    /// How much of an image's start detection reads: a sector, for
    /// qcow2's magic.
    private static let detectionStartSize: UInt64 = 512

    /// What detection reads of an object of `size` bytes: the edges of
    /// ``edgesToDetect(_:verified:)`` that it has (a footer only in an
    /// object that can hold one).
    private static func detectionReads(format: ImageFormat?, size: UInt64) -> (start: Range<UInt64>?, footer: Range<UInt64>?) {
        let edges = edgesToDetect(format)
        return (
            start: edges.leading > 0 && size > 0 ? 0..<min(size, edges.leading) : nil,
            footer: edges.trailing > 0 && size >= edges.trailing ? size - edges.trailing..<size : nil
        )
    }

    /// The layer of an image whose server does not serve ranges, known by
    /// its first bytes alone: a fixed VHD's footer is at the end, which
    /// only the whole download reaches.
    private static func wholeObjectLayer(_ image: RemoteImage, format: ImageFormat?) throws -> HTTPRangeLayer {
        if format == .vhd {
            throw RemoteImageError.rangesNotSupported(
                url: image.url.description,
                answer: "it sends the whole object to a range request, and a VHD's footer is at its end; give --format raw, or download it first")
        }
        let detected: ImageFormat = format ?? (image.leadingBytes.starts(with: ImageFormat.qcow2Magic) ? .qcow2 : .raw)
        return HTTPRangeLayer(image: image, source: image, verification: nil, format: detected, contentSize: image.identity.size, diskID: nil)
    }

    private init(
        image: RemoteImage, source: any RangeSource, verification: VerifiedSource?, format: ImageFormat, contentSize: UInt64, diskID: DiskID?,
        notice: String? = nil
    ) {
        self.image = image
        self.source = source
        self.verification = verification
        self.format = format
        self.notice = notice
        self.contentSize = contentSize
        self.diskID = diskID
    }

    /// The fetch pipeline that fills `store`, the cache above this layer,
    /// from it: whole chunks, coalesced and single-flight, with readahead
    /// and fills (see ``FetchScheduler``). The store must cover exactly this
    /// disk. From a server without ranges, the one download streams into it.
    public func scheduler(
        filling store: any ChunkStore,
        policy: FetchPolicy = FetchPolicy(),
        onStoreFailure: @escaping @Sendable (any Error) -> Void = { _ in }
    ) -> FetchScheduler {
        precondition(store.chunkLayout.diskBytes == sectorCount * UInt64(sectorSize), "the store covers another disk size")
        let source: any RangeSource = image.servesRanges ? source : SequentialSource(
            size: image.identity.size, store: store, retries: image.retries) { sink in _ = try await image.download(into: sink) }
        return FetchScheduler(
            source: source, connections: image.connections, contentSize: contentSize, layout: store.chunkLayout, store: store,
            policy: policy, latency: image.probeDuration, onStoreFailure: onStoreFailure)
    }

    /// The tree every byte read is verified against, when there is one.
    public var hashTree: HashTree? { verification?.tree }

    /// What names the image's bytes: the server's validators, and the root
    /// hash they are verified against, if any.
    public var identity: RemoteIdentity {
        var identity = image.identity
        identity.rootHash = hashTree.map { $0.rootHash.hexString }
        return identity
    }

    public var layerType: String { "http" }
    public var sectorSize: Int { Self.logicalSectorSize }
    public var physicalSectorSize: Int { 4096 }
    public var sectorCount: UInt64 { (contentSize + UInt64(sectorSize) - 1) / UInt64(sectorSize) }
    public var isFUARespected: Bool { false }
    public var isLogicallyReadOnly: Bool { true }
    public var unmapBehavior: UnmapBehavior { .ignored }

    /// One range request for the sectors (zeros past the image's end).
    public func read(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) async throws {
        let sectorBytes = UInt64(sectorSize)
        let wanted = buffer.sectors.lowerBound * sectorBytes..<buffer.sectors.upperBound * sectorBytes
        let available = wanted.lowerBound..<max(wanted.lowerBound, min(wanted.upperBound, contentSize))
        var bytes = available.isEmpty ? [] : try await source.read(available, for: .read)
        bytes.append(contentsOf: repeatElement(0, count: wanted.count - bytes.count))
        buffer.copy(bytes[...], toSector: buffer.sectors.lowerBound)
        marker.markAll()
    }

    public func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        throw DiskError.readOnly
    }

    public func flush() async throws {}

    public func unmap(at sector: UInt64, count: UInt64, nextIsZero: Bool) async throws {
        throw DiskError.readOnly
    }
}
