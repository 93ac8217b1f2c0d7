import FoundationEssentials
import Glibc

/// Tells a service manager that `serve` is ready: systemd's `sd_notify`
/// protocol, a datagram `READY=1` to the unix socket in `NOTIFY_SOCKET`
/// (a leading `@` names an abstract socket). Without the variable it does
/// nothing, so it is safe outside systemd.
enum ServiceNotification {
    static func ready(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return }
        var name = Array(path.utf8)
        if name.first == UInt8(ascii: "@") {
            name[0] = 0
        }
        guard let address = UnixSocketAddress(name: name) else { return }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let message = Array("READY=1".utf8)
        _ = address.withSockaddr { sendto(descriptor, message, message.count, Int32(MSG_NOSIGNAL), $0, $1) }
    }
}
