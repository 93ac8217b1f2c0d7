import LayeredDisk

/// A READ that waits with no task for bytes the disk's cache filler brings:
/// its reply buffer, and the pending read that fills it once they are in.
///
/// Made before the disk is asked, which may say the bytes are in before it
/// answers; a class, so the buffer is filled where it lies, not copied on
/// write. Used on its connection's event loop only.
final class BroughtRead {
    let request: NBDRequest
    var data: ReplyData
    /// Set once the disk started bringing the bytes.
    var pending: PendingRead?

    init(_ request: NBDRequest, into data: ReplyData) {
        self.request = request
        self.data = data
    }
}
