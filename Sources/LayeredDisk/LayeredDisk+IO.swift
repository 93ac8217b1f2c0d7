extension LayeredDisk {
    /// Reads through the stack: each layer, top-down, supplies what it holds of
    /// the sectors still missing; the rest reads as zeros. A read cache with a
    /// filler is waited on for what it lacks; other read caches are then
    /// filled with what the layers below them returned.
    public func read(at sector: UInt64, count: Int) async throws -> [UInt8] {
        let sectors = try geometry.sectors(at: sector, count: count)
        var read = StackRead(into: SectorBuffer(sectors: sectors, sectorSize: sectorSize))
        for (index, layer) in layers.enumerated() where !read.isComplete {
            for run in read.runs(for: layer, at: index) {
                read.focus(on: run)
                if let filler = layer.filler, let cache = layer.immediate {
                    try await readWaiting(on: filler, from: cache, run: run, into: &read)
                } else {
                    try await layer.backing.read(into: &read.buffer, marking: &read.marker)
                }
                read.noteAsked(layer, at: index, for: run)
            }
        }
        read.finish()
        for fill in read.cacheFills {
            await fillCache(layer: fill.layer, sectors: fill.sectors, from: read.buffer)
        }
        return read.buffer.bytes
    }

    /// Reads into `target` when every layer the read reaches answers without
    /// suspending and no read cache is left to fill; false otherwise, and
    /// `target` then holds nothing of use.
    public func readImmediately(at sector: UInt64, count: Int, into target: UnsafeMutableRawBufferPointer) throws -> Bool {
        let sectors = try geometry.sectors(at: sector, count: count)
        var read = StackRead(into: SectorBuffer(sectors: sectors, sectorSize: sectorSize, lending: target))
        for (index, layer) in layers.enumerated() where !read.isComplete {
            for run in read.runs(for: layer, at: index) {
                guard let immediate = layer.immediate else { return false }
                read.focus(on: run)
                guard try immediate.readImmediately(into: &read.buffer, marking: &read.marker) else { return false }
                read.noteAsked(layer, at: index, for: run)
            }
        }
        guard read.cacheFills.isEmpty else { return false }
        read.finish()
        return true
    }

    /// A miss is a hit that waited: reads what `cache` holds of `run`, has
    /// `filler` bring the rest (one request for the span of what is missing,
    /// which plans only the chunks the cache lacks) and reads that from the
    /// cache too. A cache that loses what was brought before it is read (a
    /// bounded memory cache under pressure) is asked again, a few times; what
    /// it refuses or still lacks is left to the layers below.
    private func readWaiting(
        on filler: any ReadCacheFiller, from cache: any ImmediateReadLayer, run: Range<UInt64>, into read: inout StackRead
    ) async throws {
        guard try cache.readImmediately(into: &read.buffer, marking: &read.marker) else { return }
        let sectorBytes = UInt64(sectorSize)
        for _ in 0..<Self.fillAttempts {
            let missing = read.marker.unmarkedRuns(in: run)
            guard let first = missing.first, let last = missing.last else { return }
            do {
                try await filler.bring(first.lowerBound * sectorBytes..<last.upperBound * sectorBytes)
            } catch is ReadCacheRefusal {
                return
            }
            for gap in missing {
                read.focus(on: gap)
                guard try cache.readImmediately(into: &read.buffer, marking: &read.marker) else { return }
            }
        }
    }

    /// How often a read asks a filler for what its cache lost again.
    static let fillAttempts = 3

    /// Writes to the top layer and on down while layers are write-through.
    public func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        guard !isReadOnly else { throw DiskError.readOnly }
        _ = try geometry.sectors(at: sector, byteCount: bytes.count)
        for layer in writePath {
            try await layer.backing.write(bytes, at: sector, fua: fua)
        }
    }

    /// Flushes every layer a write reaches.
    public func flush() async throws {
        for layer in writePath {
            try await layer.backing.flush()
        }
    }

    /// Unmaps down the write path, telling each layer whether the layer below
    /// already reads as zeros there.
    public func unmap(at sector: UInt64, count: UInt64) async throws {
        guard !isReadOnly else { throw DiskError.readOnly }
        _ = try geometry.sectors(at: sector, count: count)
        guard unmapBehavior != .ignored else { return }
        for (index, layer) in writePath.enumerated() {
            let below = layers.indices.contains(index + 1) ? layers[index + 1] : nil
            let nextIsZero = below.map { sector >= $0.visibleSectorCount } ?? true
            try await layer.backing.unmap(at: sector, count: count, nextIsZero: nextIsZero)
        }
    }

    /// The layers a write reaches: the top, and each below a write-through one.
    private var writePath: ArraySlice<StackLayer> {
        let end = layers.firstIndex { !$0.writeThrough } ?? layers.count - 1
        return layers[...end]
    }

    /// Stores sectors the layers below returned into a read cache, without
    /// overwriting anything it holds. `buffer` is a value: what the cache gets
    /// is an immutable snapshot of what the read returned, whatever the caller
    /// does with its copy afterwards.
    private func fillCache(layer index: Int, sectors: Range<UInt64>, from buffer: SectorBuffer) async {
        guard let cache = layers[index].readCache else { return }
        do {
            try await cache.writeNoOverwrite(buffer[sectors], at: sectors.lowerBound)
        } catch {
            cacheFillFailures.add(1, ordering: .relaxed)
            cacheFillFailureHandler(CacheFillFailure(
                layer: index, layerType: cache.layerType, sectors: sectors, underlying: error))
        }
    }
}
