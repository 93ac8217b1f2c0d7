import FoundationEssentials
import Glibc
import SystemPackage

/// A process's use of an image's cache, visible to other processes: a
/// shared `flock` on the directory's `inuse` file, held while the cache is
/// open, whose modification time is the cache's last use.
///
/// ``CacheLocation/prune(toAtMost:keeping:)`` removes only caches it can
/// lock exclusively, so an image a `serve` or `pull` has open is never
/// removed under its reader.
final class CacheUse: Sendable {
    static let fileName = "inuse"

    private let file: FileDescriptor?
    private let countsAsUse: Bool

    /// Marks the cache in `directory` used from now on; with `countsAsUse`,
    /// now and at the end are its last use (a look at it is not). Where the
    /// file cannot be made (a read-only cache), nothing is recorded: nothing
    /// can remove such a cache anyway.
    ///
    /// Taken before a cache is opened, so the open itself is a use: a
    /// `prune` in another process cannot move the directory aside while it
    /// is being created or read. When a prune removed the directory just
    /// before the lock was had, the directory is made again and the lock
    /// taken there.
    init(directory: FilePath, countsAsUse: Bool) {
        self.countsAsUse = countsAsUse
        file = Self.lockShared(directory)
        if let file, countsAsUse {
            Self.touch(file)
        }
    }

    /// A shared lock on the `inuse` file that is at `directory` now.
    private static func lockShared(_ directory: FilePath) -> FileDescriptor? {
        let path = directory.appending(fileName)
        while true {
            guard let file = (try? FileDescriptor.open(path, .readWrite, options: [.create], permissions: [.ownerReadWrite, .groupRead, .otherRead]))
                ?? (try? FileDescriptor.open(path, .readOnly))
            else {
                // Pruned between its making and this open: without the lock,
                // the cache made next would be anyone's to prune mid-create.
                guard !FileManager.default.fileExists(atPath: directory.string),
                      mkdir(directory.string, 0o755) == 0 || errno == EEXIST
                else { return nil }
                continue
            }
            while flock(file.rawValue, LOCK_SH) != 0 && errno == EINTR {}
            if let locked = try? file.stat(), let named = try? path.stat(), locked.inode == named.inode, locked.deviceID == named.deviceID {
                return file
            }
            // Pruned between the open and the lock: the file is aside.
            try? file.close()
            guard mkdir(directory.string, 0o755) == 0 || errno == EEXIST else { return nil }
        }
    }

    deinit {
        if let file {
            if countsAsUse {
                Self.touch(file)
            }
            try? file.close()
        }
    }

    /// Whether a process uses the cache in `directory` now.
    static func isUsed(_ directory: FilePath) -> Bool {
        guard let file = try? FileDescriptor.open(directory.appending(fileName), .readOnly) else { return false }
        defer { try? file.close() }
        return !isUnlocked(file)
    }

    /// An exclusive hold on the cache in `directory`, or nil while any
    /// process uses it. Closing the descriptor lets go.
    static func holdUnused(_ directory: FilePath) -> FileDescriptor? {
        guard let file = try? FileDescriptor.open(
            directory.appending(fileName), .readWrite, options: [.create], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        else { return nil }
        guard flock(file.rawValue, LOCK_EX | LOCK_NB) == 0 else {
            try? file.close()
            return nil
        }
        return file
    }

    /// Whether no process holds a lock on the file: an exclusive lock
    /// succeeds (and is let go at once).
    private static func isUnlocked(_ file: FileDescriptor) -> Bool {
        guard flock(file.rawValue, LOCK_EX | LOCK_NB) == 0 else { return false }
        _ = flock(file.rawValue, LOCK_UN)
        return true
    }

    private static func touch(_ file: FileDescriptor) {
        _ = futimens(file.rawValue, nil)
    }
}
