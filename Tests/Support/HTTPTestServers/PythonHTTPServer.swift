import Foundation

/// `python3 -m http.server` serving a directory on a free loopback port: the
/// first server most people try, which ignores `Range` and sends every
/// object whole. Its log lets a test count requests. It stops when this
/// object goes away, or when the test process dies (see ``Lifeline``).
public final class PythonHTTPServer: Sendable {
    public let port: Int
    private let log: URL
    private let lifeline: Lifeline

    public init(root: URL) throws {
        log = TestTemporaryRoot.uniquePath("lazydisk-python-http").appendingPathExtension("log")
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try LoopbackPort.free()
            let lifeline = try Lifeline.start(
                "python3 -u -m http.server \"$0\" --bind 127.0.0.1 --directory \"$1\" > \"$2\" 2>&1 & server=$!; read -r _; kill -TERM $server; wait $server; rm -f \"$2\"",
                ["\(port)", root.path, log.path])
            // It says so once it listens (a probing connection could wait
            // in its backlog while it starts).
            for _ in 0..<3000 where lifeline.watcher.isRunning && !Self.isListening(log: log) {
                usleep(10_000)
            }
            if Self.isListening(log: log) {
                self.port = port
                self.lifeline = lifeline
                return
            }
            lifeline.cut()
            lastError = NginxError.didNotStart("python3 -m http.server did not listen on port \(port)")
        }
        throw lastError ?? NginxError.didNotStart("no free port")
    }

    deinit {
        lifeline.cut()
    }

    private static func isListening(log: URL) -> Bool {
        ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("Serving HTTP on")
    }

    /// `http://127.0.0.1:PORT/NAME`.
    public func url(_ name: String) -> String {
        "http://127.0.0.1:\(port)/\(name)"
    }

    /// The request lines it logged, such as `GET /disk.img HTTP/1.1`.
    public var requests: [String] {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let open = line.firstIndex(of: "\""), let close = line[line.index(after: open)...].firstIndex(of: "\"") else { return nil }
            return String(line[line.index(after: open)..<close])
        }
    }
}
