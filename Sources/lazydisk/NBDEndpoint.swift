import Glibc

/// Where `lazydisk serve` listens, and the URIs clients use to reach it.
enum NBDEndpoint: Equatable {
    case unixSocket(path: String)
    case tcp(host: String, port: Int)

    /// The NBD URI (`nbd+unix:///NAME?socket=PATH`, `nbd://HOST:PORT/NAME`).
    func uri(exportName: String) -> String {
        switch self {
        case let .unixSocket(path): "nbd+unix:///\(exportName)?socket=\(path)"
        case let .tcp(host, port): "nbd://\(host.contains(":") ? "[\(host)]" : host):\(port)/\(exportName)"
        }
    }

    /// QEMU's older form (`nbd:unix:PATH`, `nbd:HOST:PORT`), as nbdkit's `$nbd`.
    func qemuForm(exportName: String) -> String {
        let export = exportName.isEmpty ? "" : ":exportname=\(exportName)"
        return switch self {
        case let .unixSocket(path): "nbd:unix:\(path)\(export)"
        case let .tcp(host, port): "nbd:\(host):\(port)\(export)"
        }
    }

    /// Whether only this machine can connect: a unix socket, or a numeric
    /// loopback address (127.0.0.0/8, ::1, or 127.x mapped into IPv6).
    var isLocal: Bool {
        switch self {
        case .unixSocket: true
        case let .tcp(host, _): Self.isLoopback(numericHost: host)
        }
    }

    /// Every numeric address `host` (given as `option`) resolves to, at
    /// least one: a name is checked by what it means, not by how it is
    /// spelled, and the server listens where it was checked.
    static func addresses(of host: String, option: String) throws -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let list else {
            throw CommandError("cannot resolve \(option) \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var addresses: [String] = []
        for entry in sequence(first: list, next: { $0.pointee.ai_next }) {
            var name = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(entry.pointee.ai_addr, entry.pointee.ai_addrlen, &name, socklen_t(name.count), nil, 0, NI_NUMERICHOST) == 0 {
                let address = String(nulTerminated: name)
                if !addresses.contains(address) {
                    addresses.append(address)
                }
            }
        }
        guard !addresses.isEmpty else { throw CommandError("\(option) \(host) resolves to no address") }
        return addresses
    }

    private static func isLoopback(numericHost host: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return UInt32(bigEndian: v4.s_addr) >> 24 == 127
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        let loopback = bytes == Array(repeating: 0, count: 15) + [1]
        let mapped = bytes.prefix(12) == ArraySlice(Array(repeating: 0, count: 10) + [0xFF, 0xFF]) && bytes[12] == 127
        return loopback || mapped
    }
}
