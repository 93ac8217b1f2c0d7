import Synchronization

extension LayeredDisk {
    /// Reads through the stack: each layer, top-down, supplies what it holds of
    /// the sectors still missing; the rest reads as zeros.
    public func read(at sector: UInt64, count: Int) async throws -> [UInt8] {
        let sectors = try geometry.sectors(at: sector, count: count)
        var bytes = [UInt8](repeating: 0, count: sectors.count * sectorSize)
        try await read(at: sector, count: count, into: &bytes)
        return bytes
    }

    /// A miss is a hit that waited: the read is tried as a hit; what a read
    /// cache with a filler lacks is brought into it (one request per gap,
    /// which plans only the chunks the cache lacks, or joins a fetch under
    /// way), and the read is tried as a hit again, straight into
    /// `destination`, or given to it as a span of the cache's file when it
    /// takes one. A cache that loses what was brought before it is read
    /// (a bounded memory cache under pressure) is asked again, a few times.
    /// What a cache refuses, and a stack with a layer that must always wait,
    /// is read layer by layer instead.
    public func read(at sector: UInt64, count: Int, into destination: inout some ReadDestination) async throws {
        for _ in 0...Self.fillAttempts {
            if destination.takesFileSpans, let span = fileSpan(at: sector, count: count), destination.take(span) {
                return
            }
            let attempt = try destination.withUnsafeMutableBytes { try attemptImmediately(at: sector, count: count, into: $0) }
            guard case let .lacks(filler, gaps) = attempt else {
                if case .read = attempt { return }
                break
            }
            do {
                for gap in gaps {
                    try await filler.bring(gap)
                }
            } catch is ReadCacheRefusal {
                break
            }
        }
        let bytes = try await readLayerByLayer(at: sector, count: count)
        destination.copy(from: bytes)
    }

    /// Reads into `target` when every layer the read reaches answers without
    /// suspending and no read cache is left to fill; false otherwise, and
    /// `target` then holds nothing of use.
    public func readImmediately(at sector: UInt64, count: Int, into target: UnsafeMutableRawBufferPointer) throws -> Bool {
        if case .read = try attemptImmediately(at: sector, count: count, into: target, sayingWhatItLacks: false) { true } else { false }
    }

    /// Tries the read as a hit; what a read cache with a filler lacks, the
    /// filler starts bringing with no task, and the pending read then reads
    /// the cache again, straight into its target.
    public func readImmediately(
        at sector: UInt64, count: Int, into target: UnsafeMutableRawBufferPointer,
        orBring ready: @escaping @Sendable (Result<Void, any Error>) -> Void
    ) throws -> ImmediateRead {
        switch try attemptImmediately(at: sector, count: count, into: target) {
        case .read:
            return .read
        case .waits:
            return .waits
        case let .lacks(filler, gaps):
            guard filler.bring(gaps, then: ready) else { return .waits }
            return .bringing(PendingRead { [self] target in try readImmediately(at: sector, count: count, into: target) })
        }
    }

    /// The span of the first layer that keeps the sectors in a file, when it
    /// holds them all and no layer above it holds any of them.
    public func fileSpan(at sector: UInt64, count: Int) -> FileSpan? {
        guard let sectors = try? geometry.sectors(at: sector, count: count) else { return nil }
        for (index, layer) in layers.enumerated() {
            // Below the top, sectors past a layer's visible count read as zeros.
            guard index == 0 || sectors.upperBound <= layer.visibleSectorCount else { return nil }
            switch layer.fileSpanRole {
            case let .source(files):
                return files.fileSpan(of: sectors)
            case let .passThrough(sparse):
                guard sparse.storedRuns(in: sectors).isEmpty else { return nil }
            case .barrier:
                return nil
            }
        }
        return nil
    }

    /// What a read of the stack without suspending came to.
    private enum ImmediateAttempt {
        /// Every byte is in the target.
        case read
        /// A read cache with a filler lacks `gaps` (byte ranges).
        case lacks(any ReadCacheFiller, gaps: [Range<UInt64>])
        /// A layer must be waited on, or a read cache without a filler wants
        /// what the layers below it return.
        case waits
    }

    /// Without `sayingWhatItLacks`, a read a filler could complete comes to
    /// ``ImmediateAttempt/waits`` as soon as that shows, and no list of
    /// gaps is made: a server's first try of a miss allocates nothing.
    private func attemptImmediately(
        at sector: UInt64, count: Int, into target: UnsafeMutableRawBufferPointer, sayingWhatItLacks: Bool = true
    ) throws -> ImmediateAttempt {
        let sectors = try geometry.sectors(at: sector, count: count)
        var read = StackRead(into: SectorBuffer(sectors: sectors, sectorSize: sectorSize, lending: target))
        let sectorBytes = UInt64(sectorSize)
        for (index, layer) in layers.enumerated() where !read.isComplete {
            guard let immediate = layer.immediate else { return .waits }
            var gaps: [Range<UInt64>] = []
            var position = sectors.lowerBound
            while let run = read.nextRun(for: layer, at: index, from: position) {
                position = run.upperBound
                read.focus(on: run)
                guard try immediate.readImmediately(into: &read.buffer, marking: &read.marker) else { return .waits }
                read.noteAsked(layer, at: index, for: run)
                if layer.filler != nil {
                    if sayingWhatItLacks {
                        read.marker.forEachUnmarkedRun(in: run) { gaps.append($0.lowerBound * sectorBytes..<$0.upperBound * sectorBytes) }
                    } else if read.marker.firstUnmarkedRun(in: run) != nil {
                        return .waits
                    }
                }
            }
            if let filler = layer.filler, !gaps.isEmpty {
                return .lacks(filler, gaps: gaps)
            }
        }
        guard read.cacheFills.isEmpty else { return .waits }
        read.finish()
        return .read
    }

    /// Asks each layer in turn, waiting on those that must; read caches
    /// without a filler then keep what the layers below them returned. A
    /// read cache with a filler only gives what it holds here: its filler
    /// was asked already, or refused.
    private func readLayerByLayer(at sector: UInt64, count: Int) async throws -> [UInt8] {
        let sectors = try geometry.sectors(at: sector, count: count)
        var read = StackRead(into: SectorBuffer(sectors: sectors, sectorSize: sectorSize))
        for (index, layer) in layers.enumerated() where !read.isComplete {
            var position = sectors.lowerBound
            while let run = read.nextRun(for: layer, at: index, from: position) {
                position = run.upperBound
                read.focus(on: run)
                try await layer.backing.read(into: &read.buffer, marking: &read.marker)
                read.noteAsked(layer, at: index, for: run)
            }
        }
        read.finish()
        for fill in read.cacheFills {
            await fillCache(layer: fill.layer, sectors: fill.sectors, from: read.buffer)
        }
        return read.buffer.bytes
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
