/// Buffers of one chunk each, handed out, given back and handed out again:
/// a memory cache that turns gigabytes over allocates, faults in and
/// zeroes its memory once, not once a chunk.
///
/// Allocating each arriving chunk afresh (zero-filled, then freed when
/// forgotten) cost `--no-cache` a memset a chunk and, as glibc trimmed and
/// grew its heap, a page fault every 4 KiB it received. The kept buffers
/// are cut from one mapping, page-aligned, so none costs a page of malloc
/// bookkeeping beside it either; the kernel backs them as they are first used.
///
/// Not thread-safe: its owner keeps it under its lock. The buffers out
/// belong to the owner, which gives them back (or deallocates them, once
/// the pool is gone).
struct ChunkBufferPool: ~Copyable {
    let chunkBytes: Int
    /// Buffers kept for reuse: the owner's limit. More may be out at once
    /// (see ``take()``); those are freed when given back.
    let keptBuffers: Int
    private let region: UnsafeMutableRawBufferPointer
    /// Buffers of the region given back, ready to hand out again.
    private var spare: [UnsafeMutableRawBufferPointer] = []
    /// Buffers of the region handed out at least once.
    private var carved = 0
    private(set) var outstanding = 0

    init(chunkBytes: Int, keptBuffers: Int) {
        self.chunkBytes = chunkBytes
        self.keptBuffers = keptBuffers
        region = .allocate(byteCount: chunkBytes * keptBuffers, alignment: 4096)
    }

    /// A buffer of ``chunkBytes``, its bytes whatever its last chunk left.
    /// Past ``keptBuffers`` out, a buffer of its own.
    mutating func take() -> UnsafeMutableRawBufferPointer {
        outstanding += 1
        if let buffer = spare.popLast() { return buffer }
        guard carved < keptBuffers else { return .allocate(byteCount: chunkBytes, alignment: 16) }
        carved += 1
        return UnsafeMutableRawBufferPointer(rebasing: region[(carved - 1) * chunkBytes..<carved * chunkBytes])
    }

    /// Takes back a buffer from ``take()``.
    mutating func giveBack(_ buffer: UnsafeMutableRawBufferPointer) {
        outstanding -= 1
        if isInRegion(buffer) {
            spare.append(buffer)
        } else {
            buffer.deallocate()
        }
    }

    /// Frees a buffer still out as the pool goes: its own, or nothing.
    func release(_ buffer: UnsafeMutableRawBufferPointer) {
        if !isInRegion(buffer) { buffer.deallocate() }
    }

    private func isInRegion(_ buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard let start = buffer.baseAddress, let regionStart = region.baseAddress else { return false }
        return start >= regionStart && start < regionStart + region.count
    }

    deinit {
        region.deallocate()
    }
}
