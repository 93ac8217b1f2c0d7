/// Which parts of a disk hold data and which read as zeros without being
/// stored: what NBD's `base:allocation` reports, so `nbdcopy` and
/// `qemu-img convert` skip the holes of a sparse image instead of reading
/// and writing its zeros.
public protocol AllocationMap: Sendable {
    /// Extents that cover `range` (bytes, within the disk) from its start,
    /// in order; together they may end before `range` does (a caller asks
    /// again from there), never after it.
    func allocation(of range: Range<UInt64>) async throws -> [AllocationExtent]
}

/// A run of bytes and what it holds.
public struct AllocationExtent: Sendable, Equatable {
    public var length: UInt64
    /// Nothing is stored for these bytes.
    public var isHole: Bool
    /// These bytes read as zeros.
    public var isZero: Bool

    public init(length: UInt64, isHole: Bool, isZero: Bool) {
        self.length = length
        self.isHole = isHole
        self.isZero = isZero
    }
}
