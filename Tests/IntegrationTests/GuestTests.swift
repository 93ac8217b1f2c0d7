import Foundation
import HTTPTestServers
import Testing

/// One `serve` for many guests: a glob `--export-name` gives every name
/// that matches an overlay of its own over the one image, checked with the
/// NBD clients users run.
@Suite("Guests of one serve")
struct GuestTests {
    final class Setup: Sendable {
        let served = try! TemporaryDirectory()
        let work = try! TemporaryDirectory()
        let nginx: NginxServer
        let image: Data

        init() throws {
            try randomFile(at: served.url.appending(path: "disk.img"), size: 4 << 20)
            image = try Data(contentsOf: served.url.appending(path: "disk.img"))
            nginx = try NginxServer(root: served.url)
        }

        /// `serve` with exports `vm-*` and `script` as its `--run` line; the
        /// script finds `guest NAME` a shell function printing the guest's URI.
        func serve(_ script: String, extra: [String] = []) async throws -> LazyDiskRun {
            try await LazyDiskRun.run(
                ["serve", nginx.url("disk.img"), "--cache", work.url.path, "--export-name", "vm-*", "-v", "--run",
                 "guest() { echo \"nbd+unix:///$1?socket=$unixsocket\"; }\n" + script] + extra)
        }

        func file(_ name: String) -> URL { work.url.appending(path: name) }
    }

    @Test func eachGuestReadsItsOwnWritesAndNoOneElses() async throws {
        let setup = try Setup()
        let result = try await setup.serve("""
            qemu-io -f raw -c 'write -P 0xa1 4096 4096' "$(guest vm-a)" &&
            qemu-io -f raw -c 'write -P 0xb2 4096 4096' "$(guest vm-b)" &&
            qemu-io -f raw -c 'read -P 0xa1 4096 4096' "$(guest vm-a)" &&
            qemu-io -f raw -c 'read -P 0xb2 4096 4096' "$(guest vm-b)" &&
            nbdcopy "$(guest vm-a)" \(setup.file("a.img").path) &&
            nbdcopy "$(guest vm-b)" \(setup.file("b.img").path) &&
            nbdcopy "$(guest vm-c)" \(setup.file("c.img").path) &&
            nbdinfo --list "$(guest '')"
            nbdinfo "$(guest other)" || echo "other refused"
            """)
        #expect(result.status == 0, "\(result.error)")
        let output = String(decoding: result.output, as: UTF8.self)
        #expect(output.components(separatedBy: "read 4096/4096 bytes at offset 4096").count == 3, "\(output)")
        #expect(!output.contains("Pattern verification failed"))
        var a = setup.image
        a.replaceSubrange(4096..<8192, with: repeatElement(0xA1, count: 4096))
        var b = setup.image
        b.replaceSubrange(4096..<8192, with: repeatElement(0xB2, count: 4096))
        #expect(try Data(contentsOf: setup.file("a.img")) == a)
        #expect(try Data(contentsOf: setup.file("b.img")) == b)
        #expect(try Data(contentsOf: setup.file("c.img")) == setup.image)
        for name in ["vm-a", "vm-b", "vm-c"] {
            #expect(output.contains("export=\"\(name)\""), "\(output)")
        }
        #expect(output.contains("other refused"))
        #expect(result.error.contains("guest 'vm-a' made"), "\(result.error)")
    }

    /// Each overlay holds at most --overlay-max, all of them together at
    /// most --overlays-max: a write past either fails in that guest only.
    @Test func overlaysShareOneCap() async throws {
        let setup = try Setup()
        let result = try await setup.serve("""
            qemu-io -f raw -c 'write -P 1 0 768k' "$(guest vm-a)"; echo "a=$?"
            qemu-io -f raw -c 'write -P 2 0 512k' "$(guest vm-b)"; echo "b-big=$?"
            qemu-io -f raw -c 'write -P 2 0 256k' "$(guest vm-b)"; echo "b-small=$?"
            qemu-io -f raw -c 'write -P 1 1m 512k' "$(guest vm-a)"; echo "a-more=$?"
            qemu-io -f raw -c 'read -P 1 0 768k' "$(guest vm-a)"; echo "a-read=$?"
            """, extra: ["--overlay-max", "1M", "--overlays-max", "1M", "--guest-grace", "600"])
        #expect(result.status == 0, "\(result.error)")
        let output = String(decoding: result.output, as: UTF8.self)
        for line in ["a=0", "b-big=1", "b-small=0", "a-more=1", "a-read=0"] {
            #expect(output.contains(line), "\(line) in \(output) \(result.error)")
        }
        #expect((output + result.error).contains("No space left on device"), "\(output)")
    }

    /// A guest outlives its last connection by the grace period: a client
    /// that comes back in time finds its writes; once the guest is freed
    /// (it leaves the list), its name starts from the image again.
    @Test func aGuestOutlivesItsConnectionsByTheGracePeriod() async throws {
        let setup = try Setup()
        let kept = try await setup.serve("""
            qemu-io -f raw -c 'write -P 0xa1 0 4096' "$(guest vm-a)" &&
            qemu-io -f raw -c 'read -P 0xa1 0 4096' "$(guest vm-a)"
            """, extra: ["--guest-grace", "600"])
        #expect(kept.status == 0, "\(kept.error)")
        #expect(String(decoding: kept.output, as: UTF8.self).contains("read 4096/4096 bytes at offset 0"))

        let freed = try await setup.serve("""
            qemu-io -f raw -c 'write -P 0xa1 0 4096' "$(guest vm-a)" || exit 1
            for i in $(seq 600); do nbdinfo --list "$(guest '')" | grep -q vm-a || break; sleep 0.05; done
            nbdcopy "$(guest vm-a)" \(setup.file("after.img").path)
            """, extra: ["--guest-grace", "0.2"])
        #expect(freed.status == 0, "\(freed.error)")
        #expect(try Data(contentsOf: setup.file("after.img")) == setup.image)
        #expect(freed.error.contains("guest 'vm-a' freed after"), "\(freed.error)")
    }
}
