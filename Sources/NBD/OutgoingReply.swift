import LayeredDisk
import NIOCore

/// A reply ready to write, and, for a READ whose bytes the socket sends
/// straight from a file (`sendfile`), what must happen once it is written.
///
/// NIO sends a `FileRegion` through a `NIOFileHandle`, which one write at a
/// time may use: replies on several connections send from one file at once,
/// so each such reply gets a handle of its own. The handle borrows the span's
/// descriptor, which the span's owner keeps open until the reply is written.
struct OutgoingReply: Sendable {
    let reply: NBDReply
    private let sentFile: (handle: NIOFileHandle, span: FileSpan)?

    init(_ reply: NBDReply) {
        self.reply = reply
        sentFile = nil
    }

    /// A READ's reply of the bytes `span` names, which start at `offset` of
    /// the export.
    init(cookie: UInt64, offset: UInt64, span: FileSpan, isStructured: Bool) {
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: span.descriptor)
        let region = FileRegion(fileHandle: handle, readerIndex: Int(span.offset), endIndex: Int(span.offset) + span.count)
        reply = NBDReply(cookie: cookie, body: .data(offset: offset, bytes: .fileRegion(region)), isStructured: isStructured)
        sentFile = (handle, span)
    }

    /// Whether ``written()`` must be called once the reply is written.
    var isSentFromFile: Bool { sentFile != nil }

    /// The reply is written, its write failed, or it is dropped: a handle
    /// gives the descriptor back (it is not closed), and the read is
    /// finished.
    func written() {
        guard let (handle, span) = sentFile else { return }
        _ = try? handle.takeDescriptorOwnership()
        span.sent()
    }
}
