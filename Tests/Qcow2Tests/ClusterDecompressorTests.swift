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

    @Test func aStreamThatEndsShortOfTheClusterIsAnError() throws {
        let stream = Self.storedBlock(Self.cluster[..<(Self.clusterSize - 1)], isFinal: true)
        #expect(throws: Qcow2Error.self) { try Self.decompressor.decompress(stream) }
    }

    @Test func aStreamCutOffBeforeTheClusterFillsIsAnError() throws {
        let stream = Self.storedBlock(Self.cluster[...], isFinal: true)
        #expect(throws: Qcow2Error.self) { try Self.decompressor.decompress(Array(stream[..<2000])) }
    }
}
