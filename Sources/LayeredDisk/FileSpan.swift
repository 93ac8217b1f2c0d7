/// Where a read's bytes lie, whole and in order, in one open file. A server
/// can send them from there (`sendfile`): the kernel hands the file's pages
/// to the socket, and the bytes never pass through a buffer of ours.
///
/// Only bytes that never change are given as spans: a read cache's stored
/// chunks, written once and never overwritten. So a span stays right however
/// long its send waits behind others on the socket.
public struct FileSpan: Sendable {
    /// The file's descriptor, open for as long as `owner` lives.
    public let descriptor: CInt
    /// Keeps the descriptor open while the span is held, and tells files
    /// apart: a closed descriptor's number is given out again, a held
    /// object's identity is not.
    public let owner: any AnyObject & Sendable
    /// Where the bytes start in the file.
    public let offset: Int64
    public let count: Int
    private let afterSending: [@Sendable () -> Void]

    public init(descriptor: CInt, owner: any AnyObject & Sendable, offset: Int64, count: Int) {
        self.init(descriptor: descriptor, owner: owner, offset: offset, count: count, afterSending: [])
    }

    private init(descriptor: CInt, owner: any AnyObject & Sendable, offset: Int64, count: Int, afterSending: [@Sendable () -> Void]) {
        self.descriptor = descriptor
        self.owner = owner
        self.offset = offset
        self.count = count
        self.afterSending = afterSending
    }

    /// The same span, which also runs `work` when ``sent()`` is called:
    /// what a read's end sets off (letting go of pages a bulk reader passed)
    /// must wait until the bytes have left the file.
    public func whenSent(_ work: @escaping @Sendable () -> Void) -> FileSpan {
        FileSpan(descriptor: descriptor, owner: owner, offset: offset, count: count, afterSending: afterSending + [work])
    }

    /// The bytes are on their way (or their send failed): runs what waited
    /// for it. Call it once.
    public func sent() {
        for work in afterSending {
            work()
        }
    }
}
