import LayeredDisk
import Synchronization
import Testing

/// A read cache with a filler: a miss is a hit that waited, read straight into
/// the memory the caller gave, and nothing below the cache is read.
@Suite("Reads a filler brings in")
struct LayeredDiskFilledReadTests {
    /// Brings what it is asked for from `image` into `cache` (as the fetch
    /// scheduler does from the network), or refuses it, and records each ask.
    final class RecordingFiller: ReadCacheFiller {
        let cache: RAMLayer
        let image: [UInt8]
        let refuses: Bool
        private let asked = Mutex<[Range<UInt64>]>([])

        init(cache: RAMLayer, image: [UInt8], refuses: Bool = false) {
            self.cache = cache
            self.image = image
            self.refuses = refuses
        }

        var requests: [Range<UInt64>] { asked.withLock { $0 } }

        func bring(_ bytes: Range<UInt64>) async throws {
            asked.withLock { $0.append(bytes) }
            guard !refuses else { throw ReadCacheRefusal(ProbeLayer.CacheFillRefused()) }
            try await cache.writeNoOverwrite(image[Int(bytes.lowerBound)..<Int(bytes.upperBound)], at: bytes.lowerBound / 512)
        }

        /// Brings `gaps` in a task of its own, as the scheduler's fetch
        /// runs in one, and tells `ready` when they are in.
        func bring(_ gaps: [Range<UInt64>], then ready: @escaping @Sendable (Result<Void, any Error>) -> Void) -> Bool {
            Task {
                do {
                    for gap in gaps {
                        try await bring(gap)
                    }
                    ready(.success(()))
                } catch {
                    ready(.failure(error))
                }
            }
            return true
        }
    }

    /// Memory that counts how often it is lent, to tell a read into it from
    /// one copied into it after the fact.
    struct CountingDestination: ReadDestination {
        var bytes: [UInt8]
        var lendings = 0

        mutating func withUnsafeMutableBytes<Result>(_ body: (UnsafeMutableRawBufferPointer) throws -> Result) rethrows -> Result {
            lendings += 1
            return try bytes.withUnsafeMutableBytes(body)
        }
    }

    struct Stack {
        let overlay = RAMLayer(sectorCount: 64)
        let cache = RAMLayer(sectorCount: 64)
        let image: ProbeLayer
        let filler: RecordingFiller
        let disk: LayeredDisk

        init(refusing: Bool = false) async throws {
            image = try await ProbeLayer.filled(.init(sectorCount: 64, readOnly: true))
            filler = RecordingFiller(cache: cache, image: SectorPattern.bytes(sectors: 0..<64), refuses: refusing)
            disk = try await LayeredDisk(readOnly: false, layers: [
                LayerConfiguration(overlay),
                LayerConfiguration(cache, filledBy: filler),
                LayerConfiguration(image),
            ])
        }
    }

    /// Sector 5 is the guest's: the filler is asked for the two gaps around
    /// it, the bytes land in the destination on the second try, and the
    /// image below the cache is never read.
    @Test func aMissIsBroughtIntoTheCacheAndReadIntoTheDestination() async throws {
        let stack = try await Stack()
        let written = SectorPattern.bytes(sectors: 5..<6, generation: 1)
        try await stack.disk.write(written[...], at: 5, fua: false)
        try await stack.cache.writeNoOverwrite(SectorPattern.bytes(sectors: 2..<3)[...], at: 2)

        var destination = CountingDestination(bytes: Array(repeating: 0xee, count: 8 * 512))
        try await stack.disk.read(at: 0, count: 8, into: &destination)

        #expect(destination.bytes == SectorPattern.bytes(sectors: 0..<5) + written + SectorPattern.bytes(sectors: 6..<8))
        #expect(stack.filler.requests == [0..<1024, 1536..<2560, 3072..<4096])
        #expect(destination.lendings == 2)
        #expect(stack.image.reads.isEmpty)
    }

    /// A cache that refuses the bytes (a full disk) leaves the read to the
    /// layers below, which are asked once for what the cache lacks.
    @Test func aRefusedFillIsReadFromTheLayersBelow() async throws {
        let stack = try await Stack(refusing: true)
        try await stack.cache.writeNoOverwrite(SectorPattern.bytes(sectors: 0..<2)[...], at: 0)

        let bytes = try await stack.disk.read(at: 0, count: 6)

        #expect(bytes == SectorPattern.bytes(sectors: 0..<6))
        #expect(stack.filler.requests == [1024..<3072])
        #expect(stack.image.reads == [2..<6])
    }

    /// With no task to wait in, the same miss starts the filler on its
    /// gaps; observers see the read as it starts and its end once the
    /// pending read has the bytes, which come from the cache and the
    /// guest's overlay, with nothing read below the cache.
    @Test(.timeLimit(.minutes(5))) func aMissBroughtWithNoTaskIsReadFromTheCacheOnceIn() async throws {
        let stack = try await Stack()
        let written = SectorPattern.bytes(sectors: 5..<6, generation: 1)
        try await stack.disk.write(written[...], at: 5, fua: false)
        let recorder = ReadRecorder()
        let disk = ObservedDisk(stack.disk, observers: [recorder])
        let (told, tell) = AsyncStream.makeStream(of: Result<Void, any Error>.self)
        var bytes = [UInt8](repeating: 0xee, count: 8 * 512)

        let attempt = try bytes.withUnsafeMutableBytes { try disk.readImmediately(at: 0, count: 8, into: $0) { tell.yield($0) } }
        guard case let .bringing(pending) = attempt else {
            Issue.record("the miss was not brought")
            return
        }
        #expect(recorder.reads == [0..<4096])
        #expect(recorder.finished.isEmpty)
        for await outcome in told {
            try outcome.get()
            break
        }
        #expect(try bytes.withUnsafeMutableBytes { try pending.read(into: $0) })

        #expect(bytes == SectorPattern.bytes(sectors: 0..<5) + written + SectorPattern.bytes(sectors: 6..<8))
        #expect(stack.filler.requests == [0..<2560, 3072..<4096])
        #expect(recorder.reads == [0..<4096])
        #expect(recorder.finished == [0..<4096])
        #expect(stack.image.reads.isEmpty)
    }
}
