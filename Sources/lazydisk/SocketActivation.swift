import Glibc

/// The listening socket a service manager handed over, as systemd's socket
/// activation does it (`sd_listen_fds(3)`): `LISTEN_PID` names this process
/// and `LISTEN_FDS` counts descriptors from 3. A host's `.socket` unit holds
/// the image's socket and starts `serve` on the first guest's connection.
struct SocketActivation {
    /// The descriptor, a listening stream socket.
    let descriptor: CInt
    /// Where it listens, for `$uri` and the printed address.
    let endpoint: NBDEndpoint

    /// The socket handed over, or nil when none was. The variables are
    /// removed either way, so a `--run` command does not take them for its
    /// own.
    static func inherited() throws -> SocketActivation? {
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let pid = getenv("LISTEN_PID").map({ String(cString: $0) }), pid_t(pid) == getpid(),
              let count = getenv("LISTEN_FDS").map({ String(cString: $0) })
        else { return nil }
        guard count == "1" else {
            throw CommandError("socket activation handed over \(count) descriptors (LISTEN_FDS); lazydisk serve listens on one")
        }
        let descriptor: CInt = 3
        var listening: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) == 0, listening == 1 else {
            throw CommandError("socket activation handed over descriptor 3, which is not a listening socket")
        }
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        return SocketActivation(descriptor: descriptor, endpoint: try endpoint(of: descriptor))
    }

    /// Where `descriptor` listens: a unix socket's path, or a TCP address.
    private static func endpoint(of descriptor: CInt) throws -> NBDEndpoint {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { throw CommandError("socket activation: getsockname failed: \(String(cString: strerror(errno)))") }
        switch CInt(storage.ss_family) {
        case AF_UNIX:
            let path = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { address in
                    withUnsafeBytes(of: address.pointee.sun_path) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                }
            }
            return .unixSocket(path: path)
        case AF_INET, AF_INET6:
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
            let found = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    getnameinfo($0, length, &host, socklen_t(host.count), &service, socklen_t(service.count), NI_NUMERICHOST | NI_NUMERICSERV)
                }
            }
            guard found == 0 else { throw CommandError("socket activation: the socket's address cannot be read") }
            return .tcp(host: String(nulTerminated: host), port: Int(String(nulTerminated: service)) ?? 0)
        default:
            throw CommandError("socket activation handed over a socket that is neither a unix nor an internet socket")
        }
    }
}
