import Fetching
import Glibc
import Synchronization
import SystemPackage

/// Waits for other processes to let go of their claims on bytes of a data
/// file (``ChunkLock``), sleeping in the kernel rather than polling.
///
/// A wait is a blocking request for a read lock on the claimed bytes
/// (`F_OFD_SETLKW`), made on a thread of its own: the kernel wakes it when
/// every write lock over them is gone, because their process committed its
/// chunks and let go, failed, or died. The read lock is taken on an open
/// file description of the watch's own, so it is not merged into this
/// process's own claims (open file description locks are owned by the
/// description, not the process), and it is dropped at once: it is only
/// the signal. A waiter that gives up (see ``awaitRelease(of:within:)``)
/// leaves its thread blocked until the claim goes, so at most
/// ``maximumWaits`` threads wait at once; a wait beyond that returns false
/// at once and the fetch goes ahead on its own.
final class ClaimWatch: Sendable {
    /// The data file opened again, for locks of the watch's own; nil where
    /// that failed (no `/proc`), and every wait then gives up at once.
    private let descriptor: FileDescriptor?
    private static let waits = Atomic<Int>(0)
    static let maximumWaits = 64

    init(data: FileDescriptor) {
        descriptor = try? FileDescriptor.open(
            FilePath("/proc/self/fd/\(data.rawValue)"), .readOnly, options: .closeOnExec)
    }

    deinit {
        try? descriptor?.close()
    }

    /// True once no other process holds a write lock over any of `ranges`;
    /// false when `limit` passes first.
    func awaitRelease(of ranges: [Range<UInt64>], within limit: Duration) async -> Bool {
        guard let descriptor else { return false }
        guard Self.waits.add(1, ordering: .relaxed).newValue <= Self.maximumWaits else {
            Self.waits.subtract(1, ordering: .relaxed)
            return false
        }
        return await withCheckedContinuation { continuation in
            let answer = SingleAnswer(continuation)
            let deadline = Task {
                try? await Task.sleep(for: limit)
                answer.give(false)
            }
            DedicatedThread.start { [self] in
                let released = ranges.allSatisfy { Self.waitUntilUnlocked($0, on: descriptor) }
                Self.waits.subtract(1, ordering: .relaxed)
                deadline.cancel()
                answer.give(released)
                withExtendedLifetime(self) {}
            }
        }
    }

    /// Blocks until a read lock over `bytes` can be had, then drops it.
    private static func waitUntilUnlocked(_ bytes: Range<UInt64>, on descriptor: FileDescriptor) -> Bool {
        var request = flock()
        request.l_type = Int16(F_RDLCK)
        request.l_whence = Int16(SEEK_SET)
        request.l_start = off_t(bytes.lowerBound)
        request.l_len = off_t(bytes.count)
        while fcntl(descriptor.rawValue, Self.setLockWaiting, &request) != 0 {
            guard errno == EINTR else { return false }
        }
        request.l_type = Int16(F_UNLCK)
        _ = fcntl(descriptor.rawValue, Self.setLock, &request)
        return true
    }

    /// `F_OFD_SETLK` and `F_OFD_SETLKW`, which Glibc's Swift module leaves
    /// out (Linux's values on every architecture).
    private static let setLock: Int32 = 37
    private static let setLockWaiting: Int32 = 38
}

/// A continuation that the first of several answers resumes.
private final class SingleAnswer: Sendable {
    private let continuation: Mutex<CheckedContinuation<Bool, Never>?>

    init(_ continuation: CheckedContinuation<Bool, Never>) {
        self.continuation = Mutex(continuation)
    }

    func give(_ answer: Bool) {
        continuation.withLock { $0.take() }?.resume(returning: answer)
    }
}
