import FileCache
import Foundation
import HTTPTestServers
import Testing

/// What a crash may leave in the cache, read from the system calls of a real
/// process: a chunk's bit reaches `meta` only after every byte of the chunk
/// was written to `data` and an `fdatasync` of `data` that started after
/// those writes had finished. A `kill -9` cannot lose what the page cache
/// holds, so the calls' order, not a kill, is what shows that a power loss
/// never leaves a bit for unsynced bytes.
@Suite("Commit order")
struct CommitOrderTests {
    static let chunkBytes: UInt64 = 64 << 10
    /// Chunks a bitmap page holds (docs/cache-format.md).
    static let chunksPerPage = 32704

    @Test(arguments: [["cat", "--length", "8M"], ["pull"]])
    func nothingUnsyncedIsEverMarked(command: [String]) async throws {
        let served = try TemporaryDirectory()
        let work = try TemporaryDirectory()
        let imageSize = 8 << 20
        try randomFile(at: served.url.appending(path: "disk.img"), size: imageSize)
        let nginx = try NginxServer(root: served.url)
        let tracePath = work.url.appending(path: "strace.txt").path
        let arguments = ["-f", "-qq", "-y", "-xx", "-s", "4200", "-e", "trace=pwrite64,fdatasync", "-o", tracePath,
                         LazyDiskRun.executable.path, command[0], nginx.url("disk.img"), "--cache", work.url.appending(path: "cache").path]
            + command.dropFirst()
        #expect(try await LazyDiskRun.runTool("/usr/bin/strace", arguments) == 0)

        let trace = SyscallTrace(try String(contentsOfFile: tracePath, encoding: .utf8))
        let dataWrites = trace.calls.filter { $0.name == "pwrite64" && $0.path.hasSuffix("/data") }
        let dataSyncs = trace.calls.filter { $0.name == "fdatasync" && $0.path.hasSuffix("/data") }
        let pageWrites = trace.calls.filter { $0.name == "pwrite64" && $0.path.hasSuffix("/meta") && $0.offset >= 4096 }
        var marked = Set<Int>()
        for page in pageWrites {
            let newlyMarked = Self.chunks(markedIn: page).subtracting(marked)
            for chunk in newlyMarked.sorted() {
                let bytes = UInt64(chunk) * Self.chunkBytes..<min(UInt64(chunk + 1) * Self.chunkBytes, UInt64(imageSize))
                let writes = dataWrites.filter { $0.start < page.start && $0.offset < bytes.upperBound && $0.offset + UInt64($0.count) > bytes.lowerBound }
                #expect(Self.covered(bytes, by: writes), "chunk \(chunk) marked before all its bytes were written")
                let lastWrite = writes.map(\.end).max() ?? -1
                #expect(dataSyncs.contains { $0.start > lastWrite && $0.end < page.start },
                        "chunk \(chunk) marked without an fdatasync of data after its bytes")
            }
            marked.formUnion(newlyMarked)
        }
        #expect(marked.count == imageSize / Int(Self.chunkBytes), "every chunk is marked by the end")
    }

    /// The chunks whose bits are set in a bitmap page write.
    static func chunks(markedIn write: SyscallTrace.Call) -> Set<Int> {
        let page = Int(write.offset / 4096) - 1
        var chunks = Set<Int>()
        for (index, byte) in write.bytes.prefix(4088).enumerated() where byte != 0 {
            for bit in 0..<8 where byte & (1 << bit) != 0 {
                chunks.insert(page * chunksPerPage + index * 8 + bit)
            }
        }
        return chunks
    }

    /// Whether `writes` together cover every byte of `bytes`.
    static func covered(_ bytes: Range<UInt64>, by writes: [SyscallTrace.Call]) -> Bool {
        var reached = bytes.lowerBound
        for write in writes.sorted(by: { $0.offset < $1.offset }) where write.offset <= reached {
            reached = max(reached, write.offset + UInt64(write.count))
        }
        return reached >= bytes.upperBound
    }
}
