import FoundationEssentials
import Glibc

/// The path a unix-socket server listens on, checked before binding: a
/// socket a running server holds is never taken over (the old server would
/// go on unreachable), a stale one is replaced, and a default one lives in a
/// directory only this user can enter.
enum UnixSocketPath {
    /// Makes `path` free to bind: refuses a live socket or anything that is
    /// not a socket; removes a stale socket.
    static func prepare(_ path: String) throws {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw CommandError("\(path) exists and is not a socket; choose another --socket")
        }
        if isListening(path) {
            throw CommandError("the socket \(path) belongs to a running server; stop it or choose another --socket")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw CommandError("cannot replace the stale socket \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// `$XDG_RUNTIME_DIR/lazydisk/lazydisk-PID.sock`, else the same under a
    /// `/tmp/lazydisk-UID` directory; the directory is made 0700 and must be
    /// this user's own and closed to others.
    static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        let directory = environment["XDG_RUNTIME_DIR"].flatMap { $0.hasPrefix("/") ? $0 + "/lazydisk" : nil }
            ?? "/tmp/lazydisk-\(getuid())"
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
            throw CommandError("cannot create the socket directory \(directory): \(String(cString: strerror(errno)))")
        }
        var status = stat()
        guard lstat(directory, &status) == 0, status.st_mode & S_IFMT == S_IFDIR, status.st_uid == getuid(),
              status.st_mode & 0o077 == 0
        else {
            throw CommandError("\(directory) is not a private directory of this user (0700); give --socket a path")
        }
        return directory + "/lazydisk-\(getpid()).sock"
    }

    /// Whether a server accepts connections on the socket at `path`.
    private static func isListening(_ path: String) -> Bool {
        guard let address = UnixSocketAddress(name: Array(path.utf8)) else { return false }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return address.withSockaddr { connect(descriptor, $0, $1) == 0 }
    }
}
