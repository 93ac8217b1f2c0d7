import FoundationEssentials
import Glibc
import Synchronization
import SystemPackage

/// `serve --pidfile`, kept as systemd and nbdkit expect a pid file to be:
/// never written through a symbolic link, locked for as long as the server
/// lives (a second server naming the same file is refused rather than
/// overwriting a live server's pid), and removed only by its owner.
final class PidFile: Sendable {
    let path: String
    private let file: FileDescriptor
    /// Set once the file is removed (or let go); removing again does nothing.
    private let isReleased = Atomic(false)

    /// Takes `path` for this process: creates it (never through a link),
    /// locks it, and fails when another live process holds it.
    init(claiming path: String) throws {
        file = try Self.lockedFile(at: path)
        self.path = path
    }

    private static func lockedFile(at path: String) throws -> FileDescriptor {
        let file: FileDescriptor
        do {
            file = try FileDescriptor.open(
                FilePath(path), .readWrite, options: [.create, .noFollow, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch Errno.tooManySymbolicLinkLevels {
            throw CommandError("--pidfile \(path) is a symbolic link; name the file itself")
        } catch let error as Errno {
            throw CommandError("cannot open --pidfile \(path): \(error.description)")
        }
        guard (try? file.stat().type) == .regular else {
            try? file.close()
            throw CommandError("--pidfile \(path) is not a regular file")
        }
        guard flock(file.rawValue, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingWhitespace ?? ""
            try? file.close()
            throw CommandError("--pidfile \(path) belongs to a running server\(holder.isEmpty ? "" : " (pid \(holder))")")
        }
        return file
    }

    /// Writes this process's id into the file.
    func write() throws {
        do {
            try file.resize(to: 0)
            _ = try file.writeAll(toAbsoluteOffset: 0, Array("\(getpid())\n".utf8))
        } catch let error as Errno {
            throw CommandError("cannot write --pidfile \(path): \(error.description)")
        }
    }

    /// Removes the file if it is still the one this process locked (not
    /// one another server made after it was deleted), and lets it go; once.
    func remove() {
        guard !isReleased.exchange(true, ordering: .relaxed) else { return }
        if let held = try? file.stat(), let named = try? FilePath(path).stat(followTargetSymlink: false),
           held.inode == named.inode, held.deviceID == named.deviceID {
            unlink(path)
        }
        try? file.close()
    }
}
