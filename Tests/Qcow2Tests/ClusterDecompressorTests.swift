import HTTPTestServers
@testable import Qcow2
import Testing

/// Which raw deflate streams make a cluster: qemu's rule, that the output
/// must fill up whether or not the stream ends with it, and nothing short.
/// The streams are stored (uncompressed) blocks, written out by hand, so
/// each case says exactly where the stream ends.
@Suite("Cluster decompressor")
struct ClusterDecompressorTests {
    static let clusterSize = 4096
    static let decompressor = ClusterDecompressor(compression: .deflate, clusterSize: clusterSize)
    static let cluster = (0..<clusterSize).map { UInt8(truncatingIfNeeded: $0 * 7 + $0 / 256) }

    /// A stored block of `bytes`, the stream's last when `isFinal`.
    static func storedBlock(_ bytes: ArraySlice<UInt8>, isFinal: Bool) -> [UInt8] {
        let length = UInt16(bytes.count)
        return [isFinal ? 1 : 0, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)] + bytes
    }

    @Test func aStreamThatEndsWithTheClusterInflates() throws {
        let stream = Self.storedBlock(Self.cluster[..<1000], isFinal: false) + Self.storedBlock(Self.cluster[1000...], isFinal: true)
        #expect(try Self.decompressor.decompress(stream) == Self.cluster)
    }

    /// The compressed length is rounded up to whole sectors, so whatever
    /// follows the stream's end is the next cluster's or padding.
    @Test func bytesAfterTheStreamsEndAreIgnored() throws {
        let stream = Self.storedBlock(Self.cluster[...], isFinal: true) + [UInt8](repeating: 0xA5, count: 300)
        #expect(try Self.decompressor.decompress(stream) == Self.cluster)
    }

    /// What qemu accepts and a whole-stream inflater alone refuses: the
    /// cluster fills before the stream's last block comes.
    @Test func aStreamThatFillsTheClusterWithoutEndingInflates() throws {
        let stream = Self.storedBlock(Self.cluster[...], isFinal: false)
        #expect(try Self.decompressor.decompress(stream) == Self.cluster)
    }

    /// The fast inflater takes every stream qemu writes (one that ends,
    /// padded to its sector) and leaves the one that does not end to zlib.
    @Test func theWholeStreamInflaterTakesStreamsThatEndAndOnlyThose() {
        func inflatedWhole(_ stream: [UInt8]) -> [UInt8]? {
            var cluster = [UInt8](repeating: 0, count: Self.clusterSize)
            let complete = stream.withUnsafeBytes { input in
                cluster.withUnsafeMutableBytes { ClusterDecompressor.inflateWhole(input, into: $0) }
            }
            return complete ? cluster : nil
        }
        let ending = Self.storedBlock(Self.cluster[..<1000], isFinal: false) + Self.storedBlock(Self.cluster[1000...], isFinal: true)
        #expect(inflatedWhole(ending) == Self.cluster)
        #expect(inflatedWhole(ending + [UInt8](repeating: 0xA5, count: 300)) == Self.cluster)
        #expect(inflatedWhole(Self.storedBlock(Self.cluster[...], isFinal: false)) == nil)
        #expect(inflatedWhole(Self.storedBlock(Self.cluster[..<(Self.clusterSize - 1)], isFinal: true)) == nil)
    }

    /// Every cluster qemu-img compresses (dynamic Huffman blocks, padded to
    /// a sector) is inflated by the fast inflater, to the right bytes.
    @Test func everyClusterQemuCompressesTakesTheWholeStreamInflater() throws {
        let directory = try TemporaryDirectory()
        let image = try Qcow2DamageTests.compressedImage(in: directory)
        let header = try Qcow2Header(Array(image[..<Qcow2Header.readSize]), fileSize: UInt64(image.count))
        let l2 = Qcow2DamageTests.l2Offset(image)
        var inflated = 0
        for index in 0..<header.l2Entries {
            let entry = Qcow2DamageTests.u64(image, at: l2 + 8 * index)
            guard case let .compressed(offset, length) = try ClusterMapping(entry: entry, header: header, fileSize: UInt64(image.count)) else { continue }
            let stream = Array(image[Int(offset)..<Int(offset) + length])
            var cluster = [UInt8](repeating: 0, count: header.clusterSize)
            let complete = stream.withUnsafeBytes { input in cluster.withUnsafeMutableBytes { ClusterDecompressor.inflateWhole(input, into: $0) } }
            let expected = (index * header.clusterSize..<(index + 1) * header.clusterSize).map { UInt8(ascii: "a") + UInt8($0 / 7 % 26) }
            #expect(complete && cluster == expected, "cluster \(index)")
            inflated += 1
        }
        #expect(inflated == (768 << 10) / header.clusterSize)
    }

    @Test func aStreamThatEndsShortOfTheClusterIsAnError() throws {
        let stream = Self.storedBlock(Self.cluster[..<(Self.clusterSize - 1)], isFinal: true)
        #expect(throws: Qcow2Error.self) { try Self.decompressor.decompress(stream) }
    }

    @Test func aStreamCutOffBeforeTheClusterFillsIsAnError() throws {
        let stream = Self.storedBlock(Self.cluster[...], isFinal: true)
        #expect(throws: Qcow2Error.self) { try Self.decompressor.decompress(Array(stream[..<2000])) }
    }
}
