/// Gathers bytes that arrive in whatever pieces the network cuts (curl hands
/// a body over in 16 KiB pieces, the first one short by the response's
/// headers) into runs of `unit` bytes that start and end on a multiple of
/// `unit`, but for a stream's first and last bytes. A file cache writes such
/// runs at about half the kernel's cost of the network's pieces, whose every
/// cut through a page makes the kernel prepare that page twice (see
/// ``ChunkStore/fetchedWriteUnit``).
struct WriteGathering {
    let unit: Int
    private var gathered: [UInt8]
    /// Where the gathered bytes belong.
    private var start: UInt64 = 0
    private var count = 0

    init(unit: Int) {
        precondition(unit > 0, "a write unit of \(unit) bytes")
        self.unit = unit
        gathered = [UInt8](repeating: 0, count: unit)
    }

    /// Adds `bytes`, which belong at `offset`, and hands every run that
    /// reaches a multiple of `unit` to `write`. Bytes that do not follow
    /// the gathered ones (a retried request's) first send those on.
    mutating func add(
        _ bytes: UnsafeRawBufferPointer, at offset: UInt64, write: (UnsafeRawBufferPointer, UInt64) throws -> Void
    ) rethrows {
        if count > 0, offset != start + UInt64(count) {
            try flush(write: write)
        }
        if count == 0 {
            start = offset
        }
        var rest = bytes
        while !rest.isEmpty {
            let end = start + UInt64(count)
            let room = Int((end / UInt64(unit) + 1) * UInt64(unit) - end)
            let taken = min(room, rest.count)
            gathered.withUnsafeMutableBytes { target in
                UnsafeMutableRawBufferPointer(rebasing: target[count..<count + taken])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: rest[..<taken]))
            }
            count += taken
            rest = UnsafeRawBufferPointer(rebasing: rest[taken...])
            if taken == room {
                try flush(write: write)
            }
        }
    }

    /// Hands what is gathered to `write`.
    mutating func flush(write: (UnsafeRawBufferPointer, UInt64) throws -> Void) rethrows {
        guard count > 0 else { return }
        let run = start
        let length = count
        start += UInt64(count)
        count = 0
        try gathered.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[..<length]), run) }
    }
}
