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

    /// Whether only this machine can connect.
    var isLocal: Bool {
        switch self {
        case .unixSocket: true
        case let .tcp(host, _): host == "localhost" || host == "::1" || host.hasPrefix("127.")
        }
    }
}
