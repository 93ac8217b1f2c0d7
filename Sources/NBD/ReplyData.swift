import LayeredDisk
import NIOCore

/// The buffer a READ's reply carries, which the disk reads into in place:
/// the socket is given these very bytes, so a read is copied once, from the
/// cache into the reply.
struct ReplyData: ReadDestination {
    private var buffer: ByteBuffer
    private let length: Int

    init(length: Int) {
        buffer = ByteBuffer()
        buffer.reserveCapacity(length)
        self.length = length
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
