import Foundation
import HTTPTestServers
import Testing

/// qcow2 images at a URL, decoded by lazydisk for any NBD client: the same
/// disk qemu-img reads, its holes reported, and only the file's compressed
/// bytes fetched.
@Suite("qcow2 images over HTTP")
struct Qcow2ServeTests {
    final class Setup: Sendable {
        let served: TemporaryDirectory
        let nginx: NginxServer

        /// A raw disk of text, random data, zeros and a hole, as zlib and
        /// zstd compressed qcow2 images.
        init() throws {
            served = try TemporaryDirectory()
            let raw = served.url.appending(path: "disk.raw")
            try randomFile(at: raw, size: 1 << 20)
            let handle = try FileHandle(forWritingTo: raw)
            try handle.seek(toOffset: 1 << 20)
            try handle.write(contentsOf: Data((0..<(3 << 20)).map { UInt8(ascii: "a") + UInt8($0 / 11 % 26) }))
            try handle.truncate(atOffset: 8 << 20)
            try handle.close()
            for (name, options) in [("zlib.qcow2", [String]()), ("zstd.qcow2", ["-o", "compression_type=zstd"])] {
                try runTool("/usr/bin/qemu-img", ["convert", "-c", "-f", "raw", "-O", "qcow2"] + options + [raw.path, served.url.appending(path: name).path])
            }
            nginx = try NginxServer(root: served.url)
        }

        func raw() throws -> Data { try Data(contentsOf: served.url.appending(path: "disk.raw")) }

        func size(of name: String) throws -> Int {
            try served.url.appending(path: name).resourceValues(forKeys: [.fileSizeKey]).fileSize ?? 0
        }

        /// Bytes nginx sent for `name` in answers to GETs.
        func bytesSent(for name: String) -> Int {
            nginx.accessLog.filter { $0.hasPrefix("GET /\(name)") }.compactMap { Int($0.split(separator: " ").last ?? "") }.reduce(0, +)
        }
    }

    @Test(arguments: ["zlib.qcow2", "zstd.qcow2"]) func catIsTheDiskQemuReads(name: String) async throws {
        let setup = try Setup()
        let cat = try await LazyDiskRun.run(["cat", setup.nginx.url(name), "--cache", setup.served.url.appending(path: "cache").path])
        #expect(cat.status == 0, "\(cat.error)")
        let raw = try setup.raw()
        #expect(cat.output == raw)
        // A cold full read fetches the compressed file about once.
        #expect(Double(setup.bytesSent(for: name)) <= 1.02 * Double(try setup.size(of: name)), "sent \(setup.bytesSent(for: name))")
        #expect(try setup.size(of: name) < raw.count / 2, "the image is compressed")

        let info = try await LazyDiskRun.run(["info", setup.nginx.url(name)])
        let text = String(decoding: info.output, as: UTF8.self)
        #expect(text.contains("qcow2") && text.contains("8388608 bytes") && text.contains(name.hasPrefix("zstd") ? "zstd" : "deflate"), "\(text)")
    }

    @Test func serveReportsHolesAndCopiesExactly() async throws {
        let setup = try Setup()
        let copy = setup.served.url.appending(path: "copy.raw").path
        let serve = try await LazyDiskRun.run([
            "serve", setup.nginx.url("zlib.qcow2"), "-r", "--cache", setup.served.url.appending(path: "cache").path,
            "--run", "nbdinfo --map \"$uri\" && nbdcopy \"$uri\" \(copy) && qemu-img compare -q -f raw -F qcow2 \(copy) \(setup.served.url.appending(path: "zlib.qcow2").path)",
        ])
        #expect(serve.status == 0, "\(serve.error)")
        let map = String(decoding: serve.output, as: UTF8.self)
        #expect(map.contains("hole,zero") && map.contains("data"), "\(map)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == (try setup.raw()))
    }

    /// With the RAM overlay, a guest's write into a hole is data to a
    /// copier: the map shows it, and the copy has it.
    @Test func aWriteIntoAHoleIsReportedAsData() async throws {
        let setup = try Setup()
        let copy = setup.served.url.appending(path: "copy.raw").path
        let serve = try await LazyDiskRun.run([
            "serve", setup.nginx.url("zlib.qcow2"), "--cache", setup.served.url.appending(path: "cache").path,
            "--run", "qemu-io -f raw -c 'write -P 0x5a 6291456 65536' \"$nbd\" > /dev/null && nbdinfo --map \"$uri\" && nbdcopy \"$uri\" \(copy)",
        ])
        #expect(serve.status == 0, "\(serve.error)")
        let map = String(decoding: serve.output, as: UTF8.self)
        let written = map.split(separator: "\n").first { $0.split(separator: " ", omittingEmptySubsequences: true).first == "6291456" }
        #expect(written.map { $0.contains("data") && $0.contains("65536") } == true, "\(map)")
        var expected = try setup.raw()
        expected.replaceSubrange((6 << 20)..<(6 << 20) + 65536, with: repeatElement(0x5A, count: 65536))
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == expected)
    }

    /// `--format` overrides detection: qcow2 decodes, raw gives the file.
    @Test func theFormatOptionDecides() async throws {
        let setup = try Setup()
        let decoded = try await LazyDiskRun.run(["cat", setup.nginx.url("zlib.qcow2"), "--format", "qcow2", "--no-cache"])
        #expect(decoded.output == (try setup.raw()), "\(decoded.error)")
        let file = try await LazyDiskRun.run(["cat", setup.nginx.url("zlib.qcow2"), "--format", "raw", "--no-cache"])
        let qcow2 = try Data(contentsOf: setup.served.url.appending(path: "zlib.qcow2"))
        #expect(file.output.prefix(qcow2.count) == qcow2, "\(file.error)")
        let notQcow2 = try await LazyDiskRun.run(["cat", setup.nginx.url("disk.raw"), "--format", "qcow2", "--no-cache"])
        #expect(notQcow2.status != 0 && notQcow2.error.contains("qcow2"), "\(notQcow2.error)")
    }

    /// Formats lazydisk does not decode are named, with how to use them.
    @Test func infoNamesVHDXAndDynamicVHDs() async throws {
        let setup = try Setup()
        let vhdx = setup.served.url.appending(path: "disk.vhdx")
        let dynamic = setup.served.url.appending(path: "dynamic.vhd")
        try runTool("/usr/bin/qemu-img", ["create", "-q", "-f", "vhdx", vhdx.path, "8M"])
        try runTool("/usr/bin/qemu-img", ["create", "-q", "-f", "vpc", "-o", "subformat=dynamic", dynamic.path, "8M"])
        let vhdxInfo = try await LazyDiskRun.run(["info", setup.nginx.url("disk.vhdx")])
        #expect(String(decoding: vhdxInfo.output, as: UTF8.self).contains("VHDX image"), "\(vhdxInfo.error)")
        let dynamicInfo = try await LazyDiskRun.run(["info", setup.nginx.url("dynamic.vhd")])
        #expect(dynamicInfo.status != 0 && dynamicInfo.error.contains("dynamic VHD") && dynamicInfo.error.contains("format=vpc"),
                "\(dynamicInfo.error)")
        let raw = try await LazyDiskRun.run(["info", setup.nginx.url("dynamic.vhd"), "--format", "raw"])
        #expect(raw.status == 0, "\(raw.error)")
    }

    @Test func aDamagedImageIsAClearErrorNotWrongBytes() async throws {
        let setup = try Setup()
        var bytes = [UInt8](try Data(contentsOf: setup.served.url.appending(path: "zlib.qcow2")))
        // Cut the file inside its data: the tables survive, the last clusters do not.
        bytes.removeLast(bytes.count / 3)
        try Data(bytes).write(to: setup.served.url.appending(path: "cut.qcow2"))
        let cat = try await LazyDiskRun.run(["cat", setup.nginx.url("cut.qcow2"), "--no-cache"])
        #expect(cat.status != 0)
        #expect(cat.error.contains("qcow2 image is damaged"), "\(cat.error)")
        #expect(cat.output == (try setup.raw()).prefix(cat.output.count), "bytes before the damage are the disk's")
    }
}
