import Foundation

/// Tells a service manager that `serve` is ready: systemd's `sd_notify`
/// protocol, a datagram `READY=1` to the unix socket in `NOTIFY_SOCKET`
/// (a leading `@` names an abstract socket). Without the variable it does
/// nothing, so it is safe outside systemd.
enum ServiceNotification {
    static func ready(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var name = Array(path.utf8)
        if name.first == UInt8(ascii: "@") {
            name[0] = 0
        }
        guard name.count < MemoryLayout.size(ofValue: address.sun_path) else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: name) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + name.count + (name.first == 0 ? 0 : 1))
        let message = Array("READY=1".utf8)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { target in
                sendto(descriptor, message, message.count, Int32(MSG_NOSIGNAL), target, length)
            }
        }
    }
}
