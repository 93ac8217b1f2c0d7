import Foundation
import HTTPTestServers
import Testing

/// The whole job: a VM boots from an image on an HTTP server, through
/// `lazydisk serve --run qemu-system-x86_64` (TCG).
@Suite("Booting a VM from a URL")
struct BootTests {
    @Test func fixtureVMBootsAndVerifiesItsDisk() async throws {
        let served = try TemporaryDirectory()
        let caches = try TemporaryDirectory()
        try runTool(NginxServer.repositoryRoot.appending(path: "fixtures/boot/make-image").path,
                    [served.url.appending(path: "boot.img").path])
        let nginx = try NginxServer(root: served.url)
        let qemu = """
            timeout 120 qemu-system-x86_64 -accel tcg -display none -monitor none -serial stdio -no-reboot -m 32 \
            -drive file="$uri",format=raw,if=ide
            """
        let result = try await LazyDiskRun.run(["serve", nginx.url("boot.img?sig=SECRET"), "--cache", caches.url.path, "--run", qemu])
        #expect(result.status == 0, "\(result.error)")
        #expect(String(decoding: result.output, as: UTF8.self).contains("lazydisk boot: 63 sectors read through NBD and HTTP, all verified"))
        #expect(nginx.accessLog.contains { $0.hasPrefix("GET /boot.img") })

        // The second boot comes from the cache: no new range request for data.
        let before = nginx.accessLog.filter { $0.hasPrefix("GET /boot.img") && !$0.contains("bytes=0-0") }.count
        let again = try await LazyDiskRun.run(["serve", nginx.url("boot.img"), "--cache", caches.url.path, "--offline", "--run", qemu])
        #expect(again.status == 0, "\(again.error)")
        #expect(String(decoding: again.output, as: UTF8.self).contains("all verified"))
        #expect(nginx.accessLog.filter { $0.hasPrefix("GET /boot.img") && !$0.contains("bytes=0-0") }.count == before)
    }

    /// The same VM from a compressed qcow2 of its disk, with QEMU told
    /// format=raw: lazydisk decodes the image.
    @Test func fixtureVMBootsFromACompressedQcow2() async throws {
        let served = try TemporaryDirectory()
        let raw = served.url.appending(path: "boot.img")
        try runTool(NginxServer.repositoryRoot.appending(path: "fixtures/boot/make-image").path, [raw.path])
        try runTool("/usr/bin/qemu-img", ["convert", "-c", "-f", "raw", "-O", "qcow2", raw.path, served.url.appending(path: "boot.qcow2").path])
        let nginx = try NginxServer(root: served.url)
        let qemu = """
            timeout 120 qemu-system-x86_64 -accel tcg -display none -monitor none -serial stdio -no-reboot -m 32 \
            -drive file="$uri",format=raw,if=ide
            """
        let result = try await LazyDiskRun.run(["serve", nginx.url("boot.qcow2"), "--cache", served.url.appending(path: "cache").path, "--run", qemu])
        #expect(result.status == 0, "\(result.error)")
        #expect(String(decoding: result.output, as: UTF8.self).contains("all verified"), "\(result.error)")
    }
}
