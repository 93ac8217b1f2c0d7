import Fetching
import LayeredDisk
import NIOPosix
import Synchronization
import SystemPackage

/// The persistent read cache: a sparse data file and a presence bitmap at
/// chunk granularity, shared safely by several lazydisk processes.
///
/// It is logically read-only; the stack fills it through write-no-overwrite
/// with what the layers below returned. Only whole chunks are stored (a fill
/// that covers part of a chunk leaves that chunk for a later, wider fill), and
/// a chunk's bit is written only after its data is durable, so a crash at any
/// moment leaves a cache that never returns wrong bytes. See
/// docs/cache-format.md.
///
/// Every call that may wait on the disk or on another process (`fdatasync`,
/// `flock`, the bitmap's pages) runs on one blocking-work pool; what runs
/// where it is called only reads or writes the data file's page cache.
public final class FileCacheLayer: WriteNoOverwriteLayer, FileSpanLayer, ChunkStore {
    public let header: CacheHeader
    public let directory: FilePath
    /// Bitmap pages found torn or corrupt at open and treated as empty.
    public let discardedPages: Int
    public let chunkLayout: ChunkLayout
    let files: CacheFiles
    private let claimWatch: ClaimWatch
    /// Where the calls that may block run.
    private let pool: NIOThreadPool
    private let dataSync: GroupSync
    /// What this process knows is present. Held only to look up or merge
    /// bits, never across a lock of the cache files or their I/O, so a cache
    /// hit answered on an event loop never waits behind another's commit.
    private let presence: Mutex<Presence>
    /// Serializes this process's commits: `flock` does not exclude two
    /// threads of one process, and a page written from an older merge must
    /// not overwrite one written from a newer.
    private let committing = Mutex(())
    private let pageReads = Atomic<Int>(0)
    /// Which pages may leave the page cache: in `serve` only those a bulk
    /// reader passed (a guest reads again).
    private let dropBehind = Mutex(DropBehind())
    /// Where a bulk reader's drops wait for the pool (it reads on an event loop).
    private let pageDrops: PageDropQueue

    /// What this process may read from the data file: the chunks committed
    /// (the bitmap, as it is or will be stored) and the chunks written whose
    /// commit has not finished, which only this process knows of.
    private struct Presence {
        var bitmap: PresenceBitmap
        var written: Set<Int> = []

        func contains(_ chunk: Int) -> Bool {
            bitmap.contains(chunk) || written.contains(chunk)
        }
    }

    init(header: CacheHeader, directory: FilePath, files: CacheFiles, bitmap: PresenceBitmap, discardedPages: Int) {
        self.header = header
        chunkLayout = ChunkLayout(chunkBytes: Int(header.chunkSize), diskBytes: header.diskSize)
        self.directory = directory
        self.files = files
        pool = BlockingWork.pool
        dataSync = GroupSync(files.data, pool: pool)
        pageDrops = PageDropQueue(files: files, layout: chunkLayout, pool: pool)
        claimWatch = ClaimWatch(data: files.data)
        presence = Mutex(Presence(bitmap: bitmap))
        self.discardedPages = discardedPages
    }

    public var layerType: String { "file-cache" }
    public var sectorSize: Int { Int(header.sectorSize) }
    public var sectorCount: UInt64 { header.diskSize / UInt64(header.sectorSize) }
    public var physicalSectorSize: Int { 4096 }
    public var isFUARespected: Bool { false }
    public var isLogicallyReadOnly: Bool { true }
    public var unmapBehavior: UnmapBehavior { .ignored }

    public var chunkCount: Int { chunkLayout.chunkCount }
    public var presentChunkCount: Int { presence.withLock(\.bitmap.presentCount) }

    /// Bytes of the disk the cache holds (the last chunk may be short).
    public var presentBytes: UInt64 {
        min(UInt64(presentChunkCount) * UInt64(header.chunkSize), header.diskSize)
    }

    /// Bitmap pages read from `meta` since the cache was opened, to learn
    /// what other processes cached: the I/O the cache's bookkeeping costs
    /// reads (a miss reads the pages it covers once, a hit none).
    public var storedPageReads: Int { pageReads.load(ordering: .relaxed) }

    /// Whether `chunk` is cached, as far as this process knows.
    public func isPresent(_ chunk: Int) -> Bool {
        presence.withLock { $0.contains(chunk) }
    }

    /// Runs of chunks in `chunks` that are not cached, after looking at what
    /// other processes have made durable since (on the pool, and only when
    /// this process does not know them all present).
    public func missingRuns(in chunks: Range<Int>) async throws -> [Range<Int>] {
        if !knowsPresent(chunks) {
            try await pool.runIfActive { try self.refresh(chunks) }
        }
        return knownMissingRuns(in: chunks)
    }

    private func knowsPresent(_ chunks: Range<Int>) -> Bool {
        presence.withLock { presence in chunks.allSatisfy(presence.contains) }
    }

    public func knownMissingRuns(in chunks: Range<Int>) -> [Range<Int>] {
        presence.withLock { presence in
            ChunkLayout.runs(in: chunks) { !presence.contains($0) }
        }
    }

    /// Locks what no other process is fetching of `chunks` (all of them in
    /// one lock when it can, else chunk by chunk; see ``ChunkLock``), then
    /// reads the stored bitmap: a process commits its chunks before it lets
    /// go of them, so what is missing now is missing.
    public func claim(_ chunks: Range<Int>) async throws -> ChunkClaim {
        let locked = try lockUnclaimed(chunks)
        let lockedBytes = locked.map(chunkLayout.byteRange(ofChunks:))
        let release: @Sendable () -> Void = { [files] in lockedBytes.forEach { ChunkLock.unlock($0, in: files.data) } }
        let missing: Set<Int>
        do {
            missing = Set(try await missingRuns(in: chunks).joined())
        } catch {
            release()
            throw error
        }
        let isLocked = Set(locked.joined())
        return ChunkClaim(
            claimed: ChunkLayout.runs(in: chunks) { missing.contains($0) && isLocked.contains($0) },
            heldElsewhere: ChunkLayout.runs(in: chunks) { missing.contains($0) && !isLocked.contains($0) },
            release: release)
    }

    /// The runs of `chunks` this process now holds locks on.
    private func lockUnclaimed(_ chunks: Range<Int>) throws(CacheFileError) -> [Range<Int>] {
        if try ChunkLock.lock(chunkLayout.byteRange(ofChunks: chunks), in: files.data) {
            return [chunks]
        }
        var locked: Set<Int> = []
        do {
            for chunk in chunks where try ChunkLock.lock(chunkLayout.byteRange(ofChunks: chunk..<chunk + 1), in: files.data) {
                locked.insert(chunk)
            }
        } catch {
            locked.forEach { ChunkLock.unlock(chunkLayout.byteRange(ofChunks: $0..<$0 + 1), in: files.data) }
            throw error
        }
        return ChunkLayout.runs(in: chunks) { locked.contains($0) }
    }

    /// Waits in the kernel for other processes' claims to go; see ``ClaimWatch``.
    public func awaitRelease(of chunks: [Range<Int>], within limit: Duration) async -> Bool {
        await claimWatch.awaitRelease(of: chunks.map(chunkLayout.byteRange(ofChunks:)), within: limit)
    }

    /// Answers from what this process knows present, without looking at
    /// the stored bitmap: a chunk another process cached since is found by
    /// the read that waits, through ``missingRuns(in:)``.
    public func readImmediately(into buffer: inout SectorBuffer, marking marker: inout SectorMarker) throws -> Bool {
        let sectorBytes = UInt64(sectorSize)
        let window = buffer.sectors.lowerBound * sectorBytes..<buffer.sectors.upperBound * sectorBytes
        let overlapping = chunkLayout.chunks(overlapping: window)
        let present = presence.withLock { presence in ChunkLayout.runs(in: overlapping) { presence.contains($0) } }
        for run in present {
            let wanted = chunkLayout.byteRange(ofChunks: run).clamped(to: window)
            let sectors = wanted.lowerBound / sectorBytes..<(wanted.upperBound + sectorBytes - 1) / sectorBytes
            try buffer.withUnsafeMutableBytes(of: sectors) { target in
                try readHeld(wanted, into: UnsafeMutableRawBufferPointer(rebasing: target[..<wanted.count]))
                // A marked sector is wholly written, even past the disk's end.
                _ = UnsafeMutableRawBufferPointer(rebasing: target[wanted.count...]).initializeMemory(as: UInt8.self, repeating: 0)
            }
            marker.mark(sectors)
        }
        return true
    }

    /// The span of `sectors` in the data file when every chunk they touch is
    /// one this process knows present, as ``readImmediately(into:marking:)``
    /// answers. A stored chunk is never written again, and the span holds
    /// the files open, so its bytes stay right until they are sent.
    public func fileSpan(of sectors: Range<UInt64>) -> FileSpan? {
        let sectorBytes = UInt64(sectorSize)
        let bytes = sectors.lowerBound * sectorBytes..<sectors.upperBound * sectorBytes
        guard bytes.upperBound <= header.diskSize else { return nil }
        let chunks = chunkLayout.chunks(overlapping: bytes)
        guard presence.withLock({ presence in chunks.allSatisfy(presence.contains) }) else { return nil }
        return FileSpan(descriptor: files.data.rawValue, owner: files, offset: Int64(bytes.lowerBound), count: bytes.count)
    }

    public func readHeld(_ bytes: Range<UInt64>, into target: UnsafeMutableRawBufferPointer) throws {
        try files.data.readExactly(into: target, at: Int64(bytes.lowerBound))
    }

    public func write(_ bytes: ArraySlice<UInt8>, at sector: UInt64, fua: Bool) async throws {
        throw DiskError.readOnly
    }

    /// Stores the whole chunks `bytes` covers that are not cached yet: data
    /// first, made durable, then their bits. Partly covered chunks are left.
    public func writeNoOverwrite(_ bytes: ArraySlice<UInt8>, at sector: UInt64) async throws {
        try await store(bytes, at: sector * UInt64(sectorSize))
    }

    /// 16 KiB on 16 KiB boundaries: whole pages, as many as curl hands over
    /// at once. As curl cuts a body (16 KiB pieces, the first short by the
    /// headers), nearly every write cut two pages, which the kernel then
    /// prepared twice. Larger runs let the kernel allocate larger folios,
    /// which cost more here, not less. 1 GiB behind 30 ms + 100 MB/s a
    /// connection, binaries alternating, 4 rounds: cold `serve` + `nbdcopy`
    /// 2.45–2.59 s (2.03–2.17 s of system time) as curl cuts it, 2.14–2.34 s
    /// (1.59–1.77 s) in 16 KiB runs, 1.98–4.56 s (1.46–3.76 s) in 64 KiB runs.
    public var fetchedWriteUnit: Int { 16 << 10 }

    public func writeFetched(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        precondition(offset + UInt64(bytes.count) <= header.diskSize, "bytes \(offset)+\(bytes.count) past the disk's end")
        try files.data.writeAll(bytes, at: Int64(offset))
    }

    public func wrote(_ chunks: Range<Int>) {
        presence.withLock { $0.written.formUnion(chunks) }
    }

    /// Makes the chunks' data durable, then sets their bits. When that
    /// fails, they are no longer read from here: they will be fetched again.
    public func commitChunks(_ runs: [Range<Int>]) async throws {
        guard !runs.isEmpty else { return }
        let chunks = runs.flatMap { $0 }
        do {
            try await dataSync.synchronize {
                let marked = try self.commit(chunks)
                self.dropPages(of: self.dropBehind.withLock { $0.committed(runs, marking: marked) })
            }
        } catch {
            presence.withLock { $0.written.subtract(chunks) }
            throw error
        }
    }

    private func store(_ bytes: ArraySlice<UInt8>, at start: UInt64) async throws {
        try await commitChunks(try await write(bytes, at: start))
    }

    /// Writes the whole chunks `bytes` (from disk byte `start`) covers that
    /// are not cached yet; returns the runs written.
    private func write(_ bytes: ArraySlice<UInt8>, at start: UInt64) async throws -> [Range<Int>] {
        let end = min(start + UInt64(bytes.count), header.diskSize)
        let covered = chunkLayout.chunks(overlapping: start..<end).filter {
            let range = chunkLayout.byteRange(ofChunk: $0)
            return range.lowerBound >= start && range.upperBound <= end
        }
        guard let first = covered.first, let last = covered.last else { return [] }
        let missing = try await missingRuns(in: first..<last + 1)
        try await pool.runIfActive { [files, chunkLayout] in
            for run in missing {
                let range = chunkLayout.byteRange(ofChunks: run)
                let offset = bytes.startIndex + Int(range.lowerBound - start)
                try files.data.writeAll(bytes[offset..<offset + range.count], at: Int64(range.lowerBound))
            }
        }
        return missing
    }

    /// Makes the bitmap durable too; data is always durable before its bit.
    /// Page drops a bulk reader asked for have run by its return.
    public func flush() async throws {
        await pageDrops.settle()
        try await pool.runIfActive { [files] in try files.meta.synchronizeData() }
    }

    public func unmap(at sector: UInt64, count: UInt64, nextIsZero: Bool) async throws {
        throw DiskError.readOnly
    }

    /// Sets the bits of `chunks` on disk and in memory, merging what other
    /// processes wrote to the same pages, under the cross-process lock. The
    /// bitmap's lock is taken only to merge and encode. Returns the chunks
    /// whose bits it set: those no process had marked (a request may span
    /// cached chunks between the missing ones it fetched).
    private func commit(_ chunks: [Int]) throws -> Set<Int> {
        try committing.withLock { _ throws(CacheFileError) in
            try files.lock.lockExclusively()
            defer { try? files.lock.unlock() }
            let pages = Set(chunks.map(PresenceBitmap.page(of:))).sorted()
            let stored = try pages.map { page throws(CacheFileError) in (page, try files.readPage(page)) }
            let (encoded, marked) = presence.withLock { presence in
                for (page, bytes) in stored {
                    _ = presence.bitmap.merge(storedPage: bytes, page: page)
                }
                var marked = Set<Int>()
                for chunk in chunks {
                    if presence.bitmap.insert(chunk) {
                        marked.insert(chunk)
                    }
                    presence.written.remove(chunk)
                }
                return (pages.map { (page: $0, bytes: presence.bitmap.encodedPage($0)) }, marked)
            }
            for page in encoded {
                try files.meta.writeAll(page.bytes, at: CacheFiles.offset(ofPage: page.page))
            }
            return marked
        }
    }

    // MARK: Drop-behind

    /// From now on, the page cache lets go of every chunk this process
    /// commits, once it is durable: for `pull`, which warms the cache on
    /// disk and reads nothing back.
    public func dropPagesOnceCommitted() {
        dropBehind.withLock { $0.passesEveryChunk = true }
    }

    /// The reader is done with `bytes` of the disk (`cat`, as it streams):
    /// the page cache lets go of their chunks once each is committed, at
    /// once for those that are. See ``DropBehind``.
    public func dropPages(passed bytes: Range<UInt64>) {
        let chunks = chunkLayout.chunks(overlapping: bytes)
        dropPages(of: dropBehind.withLock { $0.passed(chunks, isCommitted: isCommitted) })
    }

    /// The same for a bulk reader of `serve` (a copy), for the chunks this
    /// process fetched: a guest keeps what it reads in its own page cache,
    /// and a copy reads each byte once, so a second copy here would only
    /// take pages the host must find anew for the next fetch. Those already
    /// committed go from the pool, since the reader may be on an event loop.
    public func bulkReaderPassed(_ bytes: Range<UInt64>) {
        let chunks = chunkLayout.chunks(overlapping: bytes)
        pageDrops.enqueue(dropBehind.withLock { $0.passedInBulk(chunks, isCommitted: isCommitted) })
    }

    private func isCommitted(_ chunk: Int) -> Bool {
        presence.withLock { $0.bitmap.contains(chunk) }
    }

    private func dropPages(of runs: [Range<Int>]) {
        PageDropQueue.drop(runs, of: files.data, layout: chunkLayout)
    }

    /// Merges the stored bitmap pages covering `chunks` into memory, unless
    /// this process already knows every one of them present: bits are only
    /// ever set, so only a gap is worth reading the stored pages for. The
    /// pages are read without the bitmap's lock.
    private func refresh(_ chunks: Range<Int>) throws {
        guard !chunks.isEmpty, !knowsPresent(chunks) else { return }
        let pages = PresenceBitmap.page(of: chunks.lowerBound)...PresenceBitmap.page(of: chunks.upperBound - 1)
        pageReads.add(pages.count, ordering: .relaxed)
        let stored = try pages.map { page throws(CacheFileError) in (page, try files.readPage(page)) }
        presence.withLock { presence in
            for (page, bytes) in stored {
                _ = presence.bitmap.merge(storedPage: bytes, page: page)
            }
        }
    }
}
