import Foundation
import HTTPTestServers
import LayeredDisk
import Qcow2
import Testing

/// Damaged or unsupported qcow2 files: a clear error naming what is wrong,
/// on open for the header's features and on the reads that touch a damaged
/// table or cluster, never a crash and never wrong bytes.
@Suite("qcow2 damage and refusals")
struct Qcow2DamageTests {
    /// A compressed image of text (every cluster compresses) with a hole.
    static func compressedImage(in directory: TemporaryDirectory, options: [String] = []) throws -> [UInt8] {
        let raw = directory.url.appending(path: "text.raw")
        var bytes = [UInt8](repeating: 0, count: 1 << 20)
        for index in 0..<(768 << 10) {
            bytes[index] = UInt8(ascii: "a") + UInt8(index / 7 % 26)
        }
        try Data(bytes).write(to: raw)
        let image = directory.url.appending(path: "text.qcow2")
        try runTool("/usr/bin/qemu-img", ["convert", "-c", "-f", "raw", "-O", "qcow2"] + options + [raw.path, image.path])
        return [UInt8](try Data(contentsOf: image))
    }

    static func open(_ bytes: [UInt8]) async throws -> Qcow2Disk {
        try await Qcow2Disk(file: try InMemoryDisk(bytes: bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512), readOnly: true))
    }

    static func u64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        bytes[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func put(_ value: UInt64, into bytes: inout [UInt8], at offset: Int) {
        for index in 0..<8 {
            bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64(index)))
        }
    }

    /// Where the first L2 table is.
    static func l2Offset(_ bytes: [UInt8]) -> Int {
        Int(u64(bytes, at: Int(u64(bytes, at: 40))) & 0x00FF_FFFF_FFFF_FE00)
    }

    @Test func anEntryPastTheEndFailsOnlyTheReadsThatTouchIt() async throws {
        let directory = try TemporaryDirectory()
        var bytes = try Self.compressedImage(in: directory)
        let l2 = Self.l2Offset(bytes)
        Self.put(UInt64(1) << 50 & 0x00FF_FFFF_FFFF_0000, into: &bytes, at: l2 + 8)
        let disk = try await Self.open(bytes)
        #expect(try await disk.read(at: 0, count: 128).first == UInt8(ascii: "a"))
        await #expect(throws: Qcow2Error.self) { try await disk.read(at: 128, count: 8) }
        #expect(try await disk.read(at: 256, count: 128).count == 128 * 512)
    }

    @Test func aCompressedClusterThatDoesNotInflateIsAnError() async throws {
        let directory = try TemporaryDirectory()
        for options in [[String](), ["-o", "compression_type=zstd"]] {
            var bytes = try Self.compressedImage(in: directory, options: options)
            let entry = Self.u64(bytes, at: Self.l2Offset(bytes))
            #expect(entry & (1 << 62) != 0, "the first cluster is compressed")
            let offset = Int(entry & ((1 << 54) - 1))
            for index in offset..<offset + 64 {
                bytes[index] = 0xFF
            }
            let disk = try await Self.open(bytes)
            do {
                _ = try await disk.read(at: 0, count: 8)
                Issue.record("a garbled cluster was read (\(options))")
            } catch let error as Qcow2Error {
                #expect("\(error)".contains("does not inflate"))
            }
        }
    }

    @Test func aTruncatedFileFailsTheReadsOfWhatIsGone() async throws {
        let directory = try TemporaryDirectory()
        let bytes = try Self.compressedImage(in: directory)
        let l2 = Self.l2Offset(bytes)
        // Cut inside the L2 table: the header and L1 still parse.
        let disk = try await Self.open(Array(bytes[..<(l2 + 512)]))
        await #expect(throws: Qcow2Error.self) { try await disk.read(at: 0, count: 8) }
    }

    /// A header size that is no multiple of 512 (qemu-img never writes
    /// one; a crafted file may): the last sector is padded with zeros, not
    /// with what its cluster holds past the size, whether the read waits or
    /// not, and an empty read at the very end is empty, not a crash.
    @Test func aSizeInsideASectorPadsTheLastSectorWithZeros() async throws {
        let directory = try TemporaryDirectory()
        var bytes = try Self.compressedImage(in: directory)
        let size = (768 << 10) - 100
        Self.put(UInt64(size), into: &bytes, at: 24)
        let disk = try await Self.open(bytes)
        #expect(disk.sectorCount == 1536)
        #expect(try await disk.read(at: 1536, count: 0).isEmpty)
        let expected = (1535 * 512..<1536 * 512).map { $0 < size ? UInt8(ascii: "a") + UInt8($0 / 7 % 26) : 0 }
        #expect(try await disk.read(at: 1535, count: 1) == expected)
        var immediate = [UInt8](repeating: 0xFF, count: 512)
        #expect(try immediate.withUnsafeMutableBytes { try disk.readImmediately(at: 1535, count: 1, into: $0) })
        #expect(immediate == expected)
    }

    @Test func featuresItCannotReadAreRefusedByName() async throws {
        let directory = try TemporaryDirectory()
        let base = directory.url.appending(path: "base.qcow2")
        let child = directory.url.appending(path: "child.qcow2")
        let extended = directory.url.appending(path: "extended.qcow2")
        try runTool("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", base.path, "1M"])
        try runTool("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", "-b", base.path, "-F", "qcow2", child.path])
        try runTool("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", "-o", "extended_l2=on", extended.path, "1M"])
        var dirty = [UInt8](try Data(contentsOf: base))
        dirty[79] |= 1
        let cases: [([UInt8], String)] = [
            ([UInt8](try Data(contentsOf: child)), "backing file"),
            ([UInt8](try Data(contentsOf: extended)), "extended L2"),
            (dirty, "dirty bit"),
        ]
        for (bytes, feature) in cases {
            do {
                _ = try await Self.open(bytes)
                Issue.record("opened an image with \(feature)")
            } catch let error as Qcow2Error {
                #expect("\(error)".contains(feature), "\(error)")
            }
        }
    }
}
