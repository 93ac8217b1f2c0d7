import Synchronization

/// A sparse, writable layer held in memory and lost with the process.
///
/// It takes the guest's writes on top of a read-only stack, so the image and
/// its cache are never modified. Only written sectors use memory, up to a
/// limit a client cannot push: a write past it fails with
/// ``DiskError/noSpace(limitBytes:)`` (ENOSPC to an NBD client). It supports
/// write-no-overwrite, so it can also be a (non-persistent) read cache.
public final class RAMLayer: WriteNoOverwriteLayer, ImmediateReadLayer, SparseLayer {
    public let sectorSize: Int
    public var layerType: String { "ram" }
    public var physicalSectorSize: Int { sectorSize }
    public var isFUARespected: Bool { true }
    public var isLogicallyReadOnly: Bool { false }
    /// Unmapped sectors read as zeros: forgotten when the layer below is zero
    /// there, stored as zeros otherwise.
    public var unmapBehavior: UnmapBehavior { .zeroes }

    private let state: Mutex<State>

    /// A layer of `sectorCount` sectors of `sectorSize` bytes, all absent,
    /// that holds at most `limitBytes` of written data (counted in the
    /// 64-sector groups it allocates), and, with a `budget`, what that has
    /// left: a write past either fails whole.
    public init(sectorCount: UInt64, sectorSize: Int = 512, limitBytes: Int = .max, budget: MemoryBudget? = nil) {
        self.sectorSize = sectorSize
        self.sectorCount = sectorCount
        state = Mutex(State(sectorCount: sectorCount, sectorSize: sectorSize, limitBytes: limitBytes, budget: budget))
    }

    /// What the layer held goes back to its budget.
    deinit {
        state.withLock { $0.budget?.giveBack($0.allocatedBytes) }
    }

    /// A RAM layer that takes its size and sector size from the layer below
    /// when attached.
    public static var sizedToLowerLayer: some AttachableLayer { SizedToLowerLayer() }

    /// Bytes of memory the layer's data takes now.
    public var allocatedBytes: Int { state.withLock(\.allocatedBytes) }

    public let sectorCount: UInt64

    /// How many sectors the layer holds, for tests and diagnostics.
    public var presentSectorCount: Int { state.withLock(\.presentSectorCount) }

    public func readImmediately(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) -> Bool {
        state.withLock { state in
            state.read(into: &buffer, marking: &marker)
        }
        return true
    }

    public func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        try state.withLock { state throws(DiskError) in
            try state.store(bytes, at: sector, overwrite: true)
        }
    }

    public func writeNoOverwrite(_ bytes: ArraySlice<UInt8>, at sector: UInt64) async throws {
        try state.withLock { state throws(DiskError) in
            try state.store(bytes, at: sector, overwrite: false)
        }
    }

    public func flush() async throws {}

    public func unmap(at sector: UInt64, count: UInt64, nextIsZero: Bool) async throws {
        try state.withLock { state throws(DiskError) in
            let sectors = try state.geometry.sectors(at: sector, count: count)
            if nextIsZero {
                state.remove(sectors)
            } else {
                try state.storeZeros(sectors)
            }
        }
    }

    /// The runs of `sectors` this layer holds (written, or zeroed by an
    /// unmap).
    public func storedRuns(in sectors: Range<UInt64>) -> [Range<UInt64>] {
        state.withLock { $0.storedRuns(in: sectors) }
    }
}

extension RAMLayer {
    /// Sectors are kept in fixed groups so that a large write costs a few
    /// allocations, not one per sector.
    fileprivate static let sectorsPerChunk = 64

    /// The part of one chunk that a sector range covers.
    fileprivate struct ChunkSpan {
        var chunk: UInt64
        var slots: Range<Int>
        /// The sector in slot `slots.lowerBound`.
        var firstSector: UInt64

        var mask: UInt64 { bitmask(slots) }

        func sectors(_ slots: Range<Int>) -> Range<UInt64> {
            let start = firstSector + UInt64(slots.lowerBound - self.slots.lowerBound)
            return start..<start + UInt64(slots.count)
        }
    }

    fileprivate struct Chunk {
        var bytes: [UInt8]
        /// Bit `i` is set when sector `i` of the chunk is present.
        var present: UInt64 = 0
    }

    fileprivate struct State {
        let sectorCount: UInt64
        let sectorSize: Int
        let limitBytes: Int
        let budget: MemoryBudget?
        var chunks: [UInt64: Chunk] = [:]

        init(sectorCount: UInt64, sectorSize: Int, limitBytes: Int, budget: MemoryBudget?) {
            self.sectorCount = sectorCount
            self.sectorSize = sectorSize
            self.limitBytes = limitBytes
            self.budget = budget
        }

        var chunkBytes: Int { RAMLayer.sectorsPerChunk * sectorSize }

        var allocatedBytes: Int { chunks.count * chunkBytes }

        var geometry: SectorGeometry { SectorGeometry(sectorSize: sectorSize, sectorCount: sectorCount) }

        var presentSectorCount: Int { chunks.values.reduce(0) { $0 + $1.present.nonzeroBitCount } }

        func storedRuns(in sectors: Range<UInt64>) -> [Range<UInt64>] {
            var stored: [Range<UInt64>] = []
            for span in spans(of: sectors) {
                guard let chunk = chunks[span.chunk] else { continue }
                for slots in runs(of: chunk.present & span.mask) {
                    let run = span.sectors(slots)
                    if let last = stored.last, last.upperBound == run.lowerBound {
                        stored[stored.count - 1] = last.lowerBound..<run.upperBound
                    } else {
                        stored.append(run)
                    }
                }
            }
            return stored
        }

        func read(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) {
            for span in spans(of: buffer.sectors) {
                guard let chunk = chunks[span.chunk] else { continue }
                for slots in runs(of: chunk.present & span.mask) {
                    buffer.copy(chunk.bytes[bytes(of: slots)], toSector: span.sectors(slots).lowerBound)
                    marker.mark(span.sectors(slots))
                }
            }
        }

        mutating func store(_ source: ArraySlice<UInt8>, at sector: UInt64, overwrite: Bool) throws(DiskError) {
            let sectors = try geometry.sectors(at: sector, byteCount: source.count)
            let newChunks = try checkRoom(for: sectors)
            if let budget, newChunks > 0, !budget.draw(newChunks * chunkBytes) {
                throw .noSpace(limitBytes: budget.limitBytes)
            }
            for span in spans(of: sectors) {
                var chunk = chunks.removeValue(forKey: span.chunk) ?? Chunk(bytes: Array(repeating: 0, count: chunkBytes))
                let absent = overwrite ? span.mask : span.mask & ~chunk.present
                for slots in runs(of: absent) {
                    let offset = source.startIndex + Int(span.sectors(slots).lowerBound - sector) * sectorSize
                    chunk.bytes.replaceSubrange(bytes(of: slots), with: source[offset..<offset + slots.count * sectorSize])
                }
                chunk.present |= absent
                chunks[span.chunk] = chunk
            }
        }

        /// Refuses a write whose new chunks would pass the limit, before
        /// anything is stored or allocated: a write lands whole or not at
        /// all. Returns how many chunks it needs.
        @discardableResult
        func checkRoom(for sectors: Range<UInt64>) throws(DiskError) -> Int {
            let newChunks = spans(of: sectors).count { chunks[$0.chunk] == nil }
            guard newChunks <= (limitBytes - allocatedBytes) / chunkBytes else { throw .noSpace(limitBytes: limitBytes) }
            return newChunks
        }

        mutating func storeZeros(_ sectors: Range<UInt64>) throws(DiskError) {
            try checkRoom(for: sectors)
            let zeros = ArraySlice(repeatElement(UInt8(0), count: sectors.count * sectorSize))
            try store(zeros, at: sectors.lowerBound, overwrite: true)
        }

        mutating func remove(_ sectors: Range<UInt64>) {
            for span in spans(of: sectors) {
                guard var chunk = chunks.removeValue(forKey: span.chunk) else { continue }
                chunk.present &= ~span.mask
                if chunk.present != 0 {
                    chunks[span.chunk] = chunk
                } else {
                    budget?.giveBack(chunkBytes)
                }
            }
        }

        /// The chunks `sectors` touches, with the slots it covers in each.
        private func spans(of sectors: Range<UInt64>) -> [ChunkSpan] {
            let perChunk = UInt64(RAMLayer.sectorsPerChunk)
            var spans: [ChunkSpan] = []
            var sector = sectors.lowerBound
            while sector < sectors.upperBound {
                let chunk = sector / perChunk
                let end = min(sectors.upperBound, (chunk + 1) * perChunk)
                let first = Int(sector % perChunk)
                spans.append(ChunkSpan(chunk: chunk, slots: first..<first + Int(end - sector), firstSector: sector))
                sector = end
            }
            return spans
        }

        private func bytes(of slots: Range<Int>) -> Range<Int> {
            slots.lowerBound * sectorSize..<slots.upperBound * sectorSize
        }
    }

    private struct SizedToLowerLayer: AttachableLayer {
        func attach(above lower: LayerMetadata?) async throws -> any DiskLayer {
            guard let lower else { throw RAMLayerError.nothingToSizeFrom }
            return RAMLayer(sectorCount: lower.sectorCount, sectorSize: lower.sectorSize)
        }
    }
}

/// The bits `slots` of a 64-bit mask set.
private func bitmask(_ slots: Range<Int>) -> UInt64 {
    let width = slots.count
    return (width == 64 ? .max : (1 << width) - 1) << slots.lowerBound
}

/// The runs of set bits in `bits`, lowest first.
private func runs(of bits: UInt64) -> [Range<Int>] {
    var runs: [Range<Int>] = []
    var remaining = bits
    while remaining != 0 {
        let start = remaining.trailingZeroBitCount
        let length = (~(remaining >> start)).trailingZeroBitCount
        runs.append(start..<start + length)
        remaining &= ~bitmask(start..<start + length)
    }
    return runs
}
