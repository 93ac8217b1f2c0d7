import Glibc

/// A unix socket's address for the C socket calls: a file system path, or
/// an abstract name (its first byte 0, as systemd's `NOTIFY_SOCKET` may
/// give with a leading `@`).
struct UnixSocketAddress {
    private var storage = sockaddr_un()
    private let length: socklen_t

    /// Nil when the name does not fit in `sun_path`.
    init?(name: [UInt8]) {
        guard name.count < MemoryLayout.size(ofValue: storage.sun_path) else { return nil }
        storage.sun_family = sa_family_t(AF_UNIX)
        // sun_path starts zeroed, so a path is NUL-terminated.
        withUnsafeMutableBytes(of: &storage.sun_path) { $0.copyBytes(from: name) }
        length = socklen_t(MemoryLayout<sa_family_t>.size + name.count + (name.first == 0 ? 0 : 1))
    }

    /// Calls `body` with the address as `connect` and `sendto` take it.
    func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        withUnsafePointer(to: storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}
