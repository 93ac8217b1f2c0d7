import LayeredDisk
import NIOCore

/// A READ's reply whose bytes the socket sends straight from a file
/// (`sendfile`), and what must happen once it is written.
///
/// NIO sends a `FileRegion` through a `NIOFileHandle`, which one write at a
/// time may use: replies on several connections send from one file at once,
/// so each reply gets a handle of its own. The handle borrows the span's
/// descriptor, which the span's owner keeps open until the reply is written.
struct FileReply {
    let reply: NBDReply
    private let span: FileSpan
    private let handle: NIOFileHandle

    init(cookie: UInt64, offset: UInt64, span: FileSpan, isStructured: Bool) {
        handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: span.descriptor)
        let region = FileRegion(fileHandle: handle, readerIndex: Int(span.offset), endIndex: Int(span.offset) + span.count)
        reply = NBDReply(cookie: cookie, body: .data(offset: offset, bytes: .fileRegion(region)), isStructured: isStructured)
        self.span = span
    }

    /// The reply is written, or its write failed: the handle gives the
    /// descriptor back (it is not closed), and the read is finished.
    func written() {
        _ = try? handle.takeDescriptorOwnership()
        span.sent()
    }
}
