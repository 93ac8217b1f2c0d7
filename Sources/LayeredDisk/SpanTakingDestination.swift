/// Where a reader that sends the bytes on (a server's reply, `cat` to a
/// file) reads: it takes them as a span of the file the disk keeps them in
/// when the disk has them whole in one, and has them copied into `buffer`
/// otherwise.
public struct SpanTakingDestination<Buffer: ReadDestination>: ReadDestination {
    /// Where the bytes are copied when no span was taken.
    public var buffer: Buffer
    public let takesFileSpans: Bool
    /// The span the bytes were given as; nil when they were copied in.
    public private(set) var span: FileSpan?

    /// With `takingFileSpans` false, every read is copied into `buffer`.
    public init(_ buffer: Buffer, takingFileSpans: Bool = true) {
        self.buffer = buffer
        takesFileSpans = takingFileSpans
    }

    public mutating func take(_ span: FileSpan) -> Bool {
        guard takesFileSpans else { return false }
        self.span = span
        return true
    }

    public mutating func withUnsafeMutableBytes<Result>(_ body: (UnsafeMutableRawBufferPointer) throws -> Result) rethrows -> Result {
        try buffer.withUnsafeMutableBytes(body)
    }
}
