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
    /// Whether the destination would rather take the read's bytes as a span
    /// of a file (``take(_:)``) than have them copied in: one that sends them
    /// on, as a server's reply does, sends them from the file.
    var takesFileSpans: Bool { get }
    /// Takes the read's bytes as `span`, when the disk has them whole in one
    /// file; the destination is then not filled, and calls
    /// ``FileSpan/sent()`` once it sent them. False (the default) has the
    /// bytes copied in instead.
    mutating func take(_ span: FileSpan) -> Bool
}

extension ReadDestination {
    public var takesFileSpans: Bool { false }

    public mutating func take(_ span: FileSpan) -> Bool {
        false
    }
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
