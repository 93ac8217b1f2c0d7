import ArgumentParser

/// An address to listen on, as `HOST:PORT` (`127.0.0.1:9100`,
/// `[::1]:9100`, `localhost:0`).
struct HostAndPort: ExpressibleByArgument, Hashable {
    var host: String
    var port: Int

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":"), let port = Int(argument[argument.index(after: colon)...]),
              (0...65535).contains(port)
        else { return nil }
        var host = argument[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") {
            host = host.dropFirst().dropLast()
        }
        guard !host.isEmpty else { return nil }
        self.host = String(host)
        self.port = port
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
