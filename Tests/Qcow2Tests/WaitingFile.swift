import Foundation
import LayeredDisk
import Synchronization

/// A file that never answers at once (as the cache's stack on a miss), whose
/// reads can be held until released, and that counts them.
final class WaitingFile: BlockDevice {
    private let contents: InMemoryDisk
    private let state = Mutex<(reads: Int, held: Bool, waiting: [CheckedContinuation<Void, Never>])>((0, false, []))

    init(contentsOf file: URL) throws {
        var bytes = [UInt8](try Data(contentsOf: file))
        bytes += [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512)
        contents = try InMemoryDisk(bytes: bytes, readOnly: true)
    }

    var readCount: Int { state.withLock(\.reads) }

    /// Holds every read from now until ``release()``.
    func hold() {
        state.withLock { $0.held = true }
    }

    func release() {
        let waiting = state.withLock { state in
            state.held = false
            defer { state.waiting = [] }
            return state.waiting
        }
        waiting.forEach { $0.resume() }
    }

    var sectorSize: Int { contents.sectorSize }
    var sectorCount: UInt64 { contents.sectorCount }
    var physicalSectorSize: Int { contents.physicalSectorSize }
    var isFUARespected: Bool { false }
    var isReadOnly: Bool { true }
    var unmapBehavior: UnmapBehavior { .ignored }

    func read(at sector: UInt64, count: Int) async throws -> [UInt8] {
        await withCheckedContinuation { continuation in
            let proceeds = state.withLock { state in
                state.reads += 1
                if state.held { state.waiting.append(continuation) }
                return !state.held
            }
            if proceeds { continuation.resume() }
        }
        return try await contents.read(at: sector, count: count)
    }

    func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        throw DiskError.readOnly
    }

    func flush() async throws {}

    func unmap(at sector: UInt64, count: UInt64) async throws {
        throw DiskError.readOnly
    }
}
