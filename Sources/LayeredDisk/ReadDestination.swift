/// Memory a read fills in place, exactly as long as the read: the reply a
/// server is about to send, or an array.
///
/// A read that has to wait keeps its destination across the wait and fills
/// it when the bytes are there, so a miss lands where a hit would, with no
/// staging copy between.
public protocol ReadDestination {
    /// Lends the destination's bytes for the length of `body`.
    mutating func withUnsafeMutableBytes<Result>(
        _ body: (UnsafeMutableRawBufferPointer) throws -> Result
    ) rethrows -> Result
}

extension Array: ReadDestination where Element == UInt8 {}

/// Memory its owner keeps alive and unshared until the read has ended.
extension UnsafeMutableRawBufferPointer: ReadDestination {
    public mutating func withUnsafeMutableBytes<Result>(
        _ body: (UnsafeMutableRawBufferPointer) throws -> Result
    ) rethrows -> Result {
        try body(self)
    }
}

extension ReadDestination {
    /// Fills the destination from `bytes`, read elsewhere.
    mutating func copy(from bytes: [UInt8]) {
        withUnsafeMutableBytes { target in
            bytes.withUnsafeBytes { target.copyMemory(from: $0) }
        }
    }
}
