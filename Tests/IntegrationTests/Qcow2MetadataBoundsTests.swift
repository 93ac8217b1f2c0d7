import Foundation
import HTTPTestServers
import Testing

/// A qcow2's metadata is the image's to claim, not lazydisk's to trust: a
/// virtual size past any disk, an L1 table larger than qemu allows, and a
/// size that ends inside a sector, served by nginx as crafted files.
@Suite("qcow2 metadata within bounds")
struct Qcow2MetadataBoundsTests {
    /// An 8 MiB qcow2 with every byte written as 0xab, its header patched
    /// by `patch`, served by nginx as `name`.
    private static func serve(_ name: String, in work: TemporaryDirectory, patch: (inout [UInt8]) -> Void) throws -> NginxServer {
        let path = work.url.appending(path: name).path
        try runTool("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", path, "8M"])
        try runTool("/usr/bin/qemu-io", ["-f", "qcow2", "-c", "write -q -P 0xab 0 8M", path])
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        patch(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return try NginxServer(root: work.url)
    }

    private static func put<Integer: FixedWidthInteger>(_ value: Integer, into bytes: inout [UInt8], at offset: Int) {
        for index in 0..<Integer.bitWidth / 8 {
            bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (Integer.bitWidth - 8 - 8 * index))
        }
    }

    @Test func aVirtualSizePastAnyDiskIsRefusedNotATrap() async throws {
        let work = try TemporaryDirectory()
        let nginx = try Self.serve("huge.qcow2", in: work) { Self.put(UInt64.max - 100, into: &$0, at: 24) }
        for command in [["info"], ["cat", "--no-cache"]] {
            let result = try await LazyDiskRun.run(command + [nginx.url("huge.qcow2")])
            #expect(result.status == 1, "\(command) exited \(result.status)")
            #expect(result.error.contains("a virtual size of \(UInt64.max - 100) bytes"), "\(command): \(result.error)")
        }
    }

    @Test func anL1TableLargerThanQemuAllowsIsRefused() async throws {
        let work = try TemporaryDirectory()
        let nginx = try Self.serve("wide.qcow2", in: work) { bytes in
            // 60 MiB of L1 entries, and a file long enough to hold them.
            Self.put(UInt32((60 << 20) / 8), into: &bytes, at: 36)
            bytes += [UInt8](repeating: 0, count: 64 << 20)
        }
        let result = try await LazyDiskRun.run(["info", nginx.url("wide.qcow2")])
        #expect(result.status == 1)
        #expect(result.error.contains("an L1 table of \(60 << 20) bytes (qemu allows at most 32 MiB)"), "\(result.error)")
    }

    /// A size 100 bytes short of 8 MiB: the disk's last sector holds the
    /// image's 412 bytes, then zeros, as qemu shows it.
    @Test func aSizeInsideASectorIsPaddedWithZeros() async throws {
        let work = try TemporaryDirectory()
        let size: UInt64 = (8 << 20) - 100
        let nginx = try Self.serve("short.qcow2", in: work) { Self.put(size, into: &$0, at: 24) }
        let result = try await LazyDiskRun.run(["cat", nginx.url("short.qcow2"), "--no-cache", "--offset", "\((8 << 20) - 512)"])
        #expect(result.status == 0, "\(result.error)")
        #expect([UInt8](result.output) == [UInt8](repeating: 0xAB, count: 412) + [UInt8](repeating: 0, count: 100))
    }
}
