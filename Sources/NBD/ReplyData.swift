import LayeredDisk
import NIOCore

/// The buffer a READ's reply carries, which the disk reads into in place:
/// the socket is given these very bytes, so a read is copied once, from the
/// cache into the reply. A large read takes a span of the cache's file
/// instead, when the disk has one, and is sent from there, not copied.
struct ReplyData: ReadDestination {
    private var buffer: ByteBuffer
    private let length: Int
    let takesFileSpans: Bool
    /// The span the read's bytes were given as, which the reply sends.
    private(set) var span: FileSpan?

    init(length: Int, takingFileSpans: Bool = false) {
        buffer = ByteBuffer()
        buffer.reserveCapacity(length)
        self.length = length
        takesFileSpans = takingFileSpans
    }

    mutating func take(_ span: FileSpan) -> Bool {
        guard takesFileSpans else { return false }
        self.span = span
        return true
    }

    /// The bytes, once the disk has read them.
    var bytes: ByteBuffer {
        var filled = buffer
        filled.moveWriterIndex(forwardBy: length)
        return filled
    }

    mutating func withUnsafeMutableBytes<Result>(_ body: (UnsafeMutableRawBufferPointer) throws -> Result) rethrows -> Result {
        try buffer.withUnsafeMutableWritableBytes { try body(UnsafeMutableRawBufferPointer(rebasing: $0[..<length])) }
    }
}
