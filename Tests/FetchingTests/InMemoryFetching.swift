import Fetching
import LayeredDisk
import Synchronization

/// An object whose bytes are a function of their offset, made only when
/// asked for; it logs every range asked of it.
final class InMemorySource: RangeSource {
    let size: Int
    private let log = Mutex<[Range<UInt64>]>([])

    init(size: Int) {
        self.size = size
    }

    var requested: [Range<UInt64>] { log.withLock { $0 } }

    /// The object's bytes at `range`.
    func bytes(_ range: Range<Int>) -> [UInt8] {
        range.map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
    }

    func read(_ range: Range<UInt64>) async throws -> [UInt8] {
        log.withLock { $0.append(range) }
        await Task.yield()
        return bytes(Int(range.lowerBound)..<Int(range.upperBound))
    }
}

/// A chunk store in memory.
final class InMemoryChunkStore: ChunkStore {
    let chunkLayout: ChunkLayout
    private let chunks = Mutex<[Int: [UInt8]]>([:])

    init(layout: ChunkLayout) {
        chunkLayout = layout
    }

    var storedCount: Int { chunks.withLock { $0.count } }

    func missingRuns(in range: Range<Int>) throws -> [Range<Int>] {
        let held = chunks.withLock { Set($0.keys) }
        return ChunkLayout.runs(in: range) { !held.contains($0) }
    }

    func readHeld(_ bytes: Range<UInt64>, into target: UnsafeMutableRawBufferPointer) throws {
        let held = chunks.withLock { $0 }
        var written = 0
        for chunk in chunkLayout.chunks(overlapping: bytes) {
            let range = chunkLayout.byteRange(ofChunk: chunk).clamped(to: bytes)
            let start = Int(range.lowerBound - chunkLayout.byteRange(ofChunk: chunk).lowerBound)
            let piece = held[chunk]![start..<start + range.count]
            UnsafeMutableRawBufferPointer(rebasing: target[written..<written + piece.count]).copyBytes(from: piece)
            written += piece.count
        }
    }

    func storeChunks(_ bytes: ArraySlice<UInt8>, from chunk: Int) async throws {
        let size = chunkLayout.chunkBytes
        chunks.withLock { chunks in
            for (index, start) in stride(from: bytes.startIndex, to: bytes.endIndex, by: size).enumerated() {
                chunks[chunk + index] = chunks[chunk + index] ?? Array(bytes[start..<min(start + size, bytes.endIndex)])
            }
        }
    }
}
