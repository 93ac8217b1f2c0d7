/// What a read tried without waiting came to, when the device may start
/// bringing in what it lacks (``BlockDevice/readImmediately(at:count:into:orBring:)``).
public enum ImmediateRead: Sendable {
    /// Every byte is in the target.
    case read
    /// The read must wait in a task: ``BlockDevice/read(at:count:into:)``.
    case waits
    /// The bytes it lacks are on their way with no task waiting for them;
    /// once they are in, the pending read takes them.
    case bringing(PendingRead)
}

/// A read whose missing bytes a read cache's filler is bringing in, waited
/// for with a callback rather than a task: a server's cold read then costs
/// no task, and is answered, like a hit, once its bytes are in the cache (a
/// miss is a hit that waited).
public struct PendingRead: Sendable {
    private let readNow: @Sendable (UnsafeMutableRawBufferPointer) throws -> Bool

    public init(_ readNow: @escaping @Sendable (UnsafeMutableRawBufferPointer) throws -> Bool) {
        self.readNow = readNow
    }

    /// Reads the brought bytes into `target` without waiting; false when
    /// they are not all there any more (a bounded memory cache let go of
    /// them, or the cache refused them), and the read then goes through
    /// ``BlockDevice/read(at:count:into:)``.
    public func read(into target: UnsafeMutableRawBufferPointer) throws -> Bool {
        try readNow(target)
    }

    /// The same read, finishing with `finish` once it has its bytes.
    public func finishing(with finish: @escaping @Sendable () -> Void) -> PendingRead {
        PendingRead { target in
            guard try readNow(target) else { return false }
            finish()
            return true
        }
    }
}
