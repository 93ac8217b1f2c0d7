import Foundation
import HTTPTestServers
import LayeredDisk
import Qcow2
import Testing

/// qcow2 images made by qemu-img, read through ``Qcow2Disk`` over their
/// file's bytes, against `qemu-img convert -O raw` of the same file.
@Suite("qcow2 decoding")
struct Qcow2DiskTests {
    /// A directory with a raw image of random clusters, zeros and holes.
    final class Fixtures: Sendable {
        let directory: TemporaryDirectory
        let raw: URL

        init() throws {
            directory = try TemporaryDirectory()
            raw = directory.url.appending(path: "disk.raw")
            var bytes = [UInt8](repeating: 0, count: 3 << 20)
            var generator = SystemRandomNumberGenerator()
            // Random data in some 64 KiB clusters, text in others, zeros elsewhere.
            for cluster in [0, 1, 2, 5, 9, 17, 30, 31, 46] {
                for index in cluster << 16..<(cluster + 1) << 16 {
                    bytes[index] = cluster.isMultiple(of: 2) ? UInt8.random(in: 0...255, using: &generator) : UInt8(truncatingIfNeeded: index / 3)
                }
            }
            try Data(bytes).write(to: raw)
        }

        /// `qemu-img convert` of the raw image with `options`.
        func converted(_ name: String, _ options: [String]) throws -> URL {
            let target = directory.url.appending(path: name)
            try runTool("/usr/bin/qemu-img", ["convert", "-f", "raw", "-O", "qcow2"] + options + [raw.path, target.path])
            return target
        }

        /// The disk qemu-img reads in `image`.
        func qemuRaw(of image: URL) throws -> Data {
            let target = directory.url.appending(path: image.lastPathComponent + ".raw")
            try runTool("/usr/bin/qemu-img", ["convert", "-O", "raw", image.path, target.path])
            return try Data(contentsOf: target)
        }
    }

    static func open(_ file: URL) async throws -> Qcow2Disk {
        var bytes = [UInt8](try Data(contentsOf: file))
        bytes += [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512)
        return try await Qcow2Disk(file: try InMemoryDisk(bytes: bytes, readOnly: true))
    }

    static func whole(_ disk: Qcow2Disk) async throws -> Data {
        var data = Data()
        var sector: UInt64 = 0
        while sector < disk.sectorCount {
            let count = Int(min(disk.sectorCount - sector, 2048))
            data.append(contentsOf: try await disk.read(at: sector, count: count))
            sector += UInt64(count)
        }
        return data
    }

    @Test(arguments: [
        ("plain.qcow2", [String]()),
        ("zlib.qcow2", ["-c"]),
        ("zstd.qcow2", ["-c", "-o", "compression_type=zstd"]),
        ("v2-zlib.qcow2", ["-c", "-o", "compat=0.10"]),
        ("small-clusters.qcow2", ["-c", "-o", "cluster_size=4096"]),
    ])
    func readsWhatQemuReads(name: String, options: [String]) async throws {
        let fixtures = try Fixtures()
        let image = try fixtures.converted(name, options)
        let disk = try await Self.open(image)
        #expect(try await Self.whole(disk) == (try fixtures.qemuRaw(of: image)))
        #expect(try await Self.whole(disk) == (try Data(contentsOf: fixtures.raw)))
        // A read across clusters that starts and ends inside them.
        let part = try await disk.read(at: 100, count: 700)
        #expect(Data(part) == (try Data(contentsOf: fixtures.raw))[51200..<51200 + 700 * 512])
        // Over a file that answers at once, every read is answered at once
        // but those that need a cluster inflated, which go to the pool.
        let (immediately, declined) = try await Self.wholePreferringImmediate(try await Self.open(image))
        #expect(immediately == (try Data(contentsOf: fixtures.raw)))
        #expect((declined > 0) == options.contains("-c"), "\(declined) reads declined")
    }

    /// The disk read 1 MiB at a time with
    /// ``Qcow2Disk/readImmediately(at:count:into:)``, and by
    /// ``Qcow2Disk/read(at:count:)`` where it declines (then counted).
    static func wholePreferringImmediate(_ disk: Qcow2Disk) async throws -> (Data, declined: Int) {
        var data = Data()
        var declined = 0
        var sector: UInt64 = 0
        while sector < disk.sectorCount {
            let count = Int(min(disk.sectorCount - sector, 2048))
            var bytes = [UInt8](repeating: 0xEE, count: count * 512)
            if try !bytes.withUnsafeMutableBytes({ try disk.readImmediately(at: sector, count: count, into: $0) }) {
                declined += 1
                bytes = try await disk.read(at: sector, count: count)
            }
            data.append(contentsOf: bytes)
            sector += UInt64(count)
        }
        return (data, declined)
    }

    /// Over a file that always has to wait (the cache misses), only what
    /// the disk holds itself is answered at once: inflated clusters, zeros.
    /// Over one that answers at once, a compressed cluster is still not
    /// inflated on the caller's thread.
    @Test func anImmediateReadAnswersOnlyFromWhatItHolds() async throws {
        let fixtures = try Fixtures()
        let raw = try Data(contentsOf: fixtures.raw)
        for (name, options, immediateAfterRead) in [("plain.qcow2", [String](), false), ("zlib.qcow2", ["-c"], true)] {
            let image = try fixtures.converted(name, options)
            let file = try WaitingFile(contentsOf: image)
            let disk = try await Qcow2Disk(file: file)
            // Cluster 1 holds text, which qemu-img compresses (random data it stores as it is).
            var bytes = [UInt8](repeating: 0, count: 64 << 10)
            #expect(try bytes.withUnsafeMutableBytes { try disk.readImmediately(at: 128, count: 128, into: $0) } == false, "\(name)")
            _ = try await disk.read(at: 128, count: 128)
            let answered = try bytes.withUnsafeMutableBytes { try disk.readImmediately(at: 128, count: 128, into: $0) }
            #expect(answered == immediateAfterRead, "\(name)")
            if answered {
                #expect(Data(bytes) == raw[(64 << 10)..<(128 << 10)])
            }
            let atOnce = try await Self.open(image)
            #expect(try bytes.withUnsafeMutableBytes { try atOnce.readImmediately(at: 128, count: 128, into: $0) } == !options.contains("-c"), "\(name)")
        }
    }

    /// Reads of one compressed cluster that wait at once share one inflation:
    /// the file is asked for its bytes once.
    @Test func concurrentReadsOfACompressedClusterInflateItOnce() async throws {
        let fixtures = try Fixtures()
        let image = try fixtures.converted("zlib.qcow2", ["-c"])
        let file = try WaitingFile(contentsOf: image)
        let disk = try await Qcow2Disk(file: file)
        _ = try await disk.read(at: 0, count: 1)
        let readsBefore = file.readCount
        file.hold()
        // Cluster 1: text, compressed.
        async let first = disk.read(at: 128, count: 8)
        async let second = disk.read(at: 136, count: 8)
        // The first read reaches the file; give the second every chance to.
        for _ in 0..<200 where file.readCount < readsBefore + 2 {
            try await Task.sleep(for: .milliseconds(5))
        }
        file.release()
        let raw = try Data(contentsOf: fixtures.raw)
        #expect(Data(try await first + second) == raw[(128 * 512)..<(144 * 512)])
        #expect(file.readCount == readsBefore + 1)
    }

    @Test func zeroClustersAndTablesPastFiveHundredMegabytes() async throws {
        let fixtures = try Fixtures()
        let image = fixtures.directory.url.appending(path: "big.qcow2")
        try runTool("/usr/bin/qemu-img", ["create", "-q", "-f", "qcow2", image.path, "600M"])
        try runTool("/usr/bin/qemu-io", [
            "-f", "qcow2", "-c", "write -P 0x11 0 1M", "-c", "write -z 256k 128k", "-c", "write -P 0x22 550M 192k", image.path,
        ])
        let disk = try await Self.open(image)
        #expect(disk.sectorCount * 512 == 600 << 20)
        let start = try await disk.read(at: 0, count: 2048)
        #expect(start[0..<(256 << 10)].allSatisfy { $0 == 0x11 })
        #expect(start[(256 << 10)..<(384 << 10)].allSatisfy { $0 == 0 })
        #expect(start[(384 << 10)..<(1 << 20)].allSatisfy { $0 == 0x11 })
        let far = try await disk.read(at: (550 << 20) / 512 - 128, count: 640)
        #expect(far[0..<(64 << 10)].allSatisfy { $0 == 0 })
        #expect(far[(64 << 10)..<(256 << 10)].allSatisfy { $0 == 0x22 })
        #expect(far[(256 << 10)...].allSatisfy { $0 == 0 })
        #expect(try await Self.whole(disk) == (try fixtures.qemuRaw(of: image)))
    }
}
