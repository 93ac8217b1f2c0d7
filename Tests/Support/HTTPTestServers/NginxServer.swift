import Foundation

/// nginx serving a directory on a free loopback port, started natively from
/// the same `docker/nginx.conf` the Docker recipe uses (via
/// `scripts/lib/nginx-config`). Its access log lets a test count requests.
///
/// nginx runs as a single process under a small shell that holds the read
/// end of a pipe from the test process and stops nginx when the pipe closes:
/// when this object goes away, or when the test process dies. Only this
/// process ever holds the write end (see ``closeOnExecPipe()``), and the
/// shell and nginx start with no signal blocked (see ``ChildProcess``).
public final class NginxServer: Sendable {
    /// The served directory.
    public let root: URL
    public let port: Int
    /// The TLS (and HTTP/2) port, when started with `tls: true`.
    public let tlsPort: Int?
    /// The self-signed certificate the TLS server presents (for 127.0.0.1).
    public let certificateFile: URL
    private let workDirectory: URL
    private let lifeline: Lifeline

    /// Starts nginx serving `root`, and with `tls` a second server speaking
    /// TLS and HTTP/2 with a fresh self-signed certificate. Throws if nginx is
    /// missing or does not come up.
    public convenience init(root: URL, tls: Bool = false) throws {
        try self.init(root: root, tls: tls) { port, tlsPort, work, certificate, key in
            ("nginx-config", ["\(port)", root.path, work.path] + (tlsPort.map { ["\($0)", certificate.path, key.path] } ?? []))
        }
    }

    /// Starts a regional cache (docker/nginx-tier.conf: `slice` and
    /// `proxy_cache`) in front of `origin`; its access log shows what
    /// reached it, the origin's what it passed on.
    public convenience init(tierInFrontOf origin: NginxServer) throws {
        try self.init(root: origin.root, tls: false) { port, _, work, _, _ in
            ("nginx-tier-config", ["\(port)", "\(origin.port)", work.path])
        }
    }

    /// Starts nginx with the configuration a script in scripts/lib prints
    /// for the ports and work directory given: (script, arguments).
    private init(
        root: URL, tls: Bool,
        configuration: (_ port: Int, _ tlsPort: Int?, _ work: URL, _ certificate: URL, _ key: URL) -> (String, [String])
    ) throws {
        self.root = root
        workDirectory = TestTemporaryRoot.uniquePath("lazydisk-nginx")
        certificateFile = workDirectory.appending(path: "cert.pem")
        let key = workDirectory.appending(path: "key.pem")
        var lastError: (any Error)?
        for _ in 0..<5 {
            // A failed start removes the work directory, so each try makes it.
            do {
                try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
                if tls {
                    try Self.makeCertificate(certificate: certificateFile, key: key)
                }
                let port = try LoopbackPort.free()
                let tlsPort = tls ? try LoopbackPort.free() : nil
                let (script, arguments) = configuration(port, tlsPort, workDirectory, certificateFile, key)
                lifeline = try Self.launch(
                    script: script, arguments, ports: [port] + (tlsPort.map { [$0] } ?? []), workDirectory: workDirectory)
                self.port = port
                self.tlsPort = tlsPort
                return
            } catch {
                try? FileManager.default.removeItem(at: workDirectory)
                lastError = error
            }
        }
        throw lastError ?? NginxError.didNotStart("no free port")
    }

    /// Stops nginx and waits until its work directory is gone.
    deinit {
        lifeline.cut()
    }

    /// `http://127.0.0.1:PORT/NAME`.
    public func url(_ name: String) -> String {
        "http://127.0.0.1:\(port)/\(name)"
    }

    /// `https://127.0.0.1:TLS_PORT/NAME`.
    public func httpsURL(_ name: String) -> String {
        "https://127.0.0.1:\(tlsPort ?? 0)/\(name)"
    }

    /// Access log lines so far: `METHOD URI "RANGE" "IF-MATCH" STATUS BYTES`.
    public var accessLog: [String] {
        let text = (try? String(contentsOf: accessLogFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    /// Where a tier (``init(tierInFrontOf:)``) keeps the responses it cached.
    public var tierCacheDirectory: URL { workDirectory.appending(path: "nginx-tier-cache") }

    /// The access log, for a script that watches it.
    public var accessLogFile: URL { workDirectory.appending(path: "access.log") }

    /// The repository's root, found from this file's location.
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Starts nginx and returns its lifeline.
    private static func launch(script: String, _ configArguments: [String], ports: [Int], workDirectory: URL) throws -> Lifeline {
        let config = workDirectory.appending(path: "nginx.conf")
        try runTool(repositoryRoot.appending(path: "scripts/lib/\(script)").path, configArguments).write(to: config)

        // The work directory (config, logs, temporary files) goes with nginx.
        let lifeline = try Lifeline.start(
            "\"$0\" -p \"$1\" -c \"$2\" -e stderr & server=$!; read -r _; kill -TERM $server; wait $server; rm -rf \"$1\"",
            [try nginxPath(), workDirectory.path, config.path])
        let watcher = lifeline.watcher
        // nginx writes its pid file only once it holds its ports; without that
        // check a port another test's nginx took would pass for ours.
        let pidFile = workDirectory.appending(path: "nginx.pid").path
        for _ in 0..<3000 {
            if FileManager.default.fileExists(atPath: pidFile) && ports.allSatisfy(LoopbackPort.accepts) {
                return lifeline
            }
            guard watcher.isRunning else { break }
            usleep(10_000)
        }
        lifeline.cut()
        throw NginxError.didNotStart("nginx did not listen on ports \(ports)")
    }

    private static func makeCertificate(certificate: URL, key: URL) throws {
        try runTool("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key.path, "-out", certificate.path,
        ])
    }

    private static func nginxPath() throws -> String {
        for candidate in ["/usr/sbin/nginx", "/usr/bin/nginx"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw NginxError.didNotStart("nginx is not installed (scripts/test installs it)")
    }
}

/// The write end of the pipe a watcher shell reads, and the shell: closing
/// the pipe makes the shell stop the server it started.
struct Lifeline: Sendable {
    let writeEnd: Int32
    let watcher: ChildProcess

    /// Runs `script` with `sh -c` (its `$0`, `$1`, … from `arguments`),
    /// reading the pipe whose write end the lifeline holds: the script
    /// starts its server, waits on `read`, then stops it.
    static func start(_ script: String, _ arguments: [String]) throws -> Lifeline {
        let pipe = try closeOnExecPipe()
        defer { close(pipe.read) }
        do {
            return Lifeline(writeEnd: pipe.write, watcher: try ChildProcess("/bin/sh", ["-c", script] + arguments, input: .descriptor(pipe.read)))
        } catch {
            close(pipe.write)
            throw error
        }
    }

    /// Closing the pipe makes the shell stop nginx and remove its work
    /// directory; this returns once it has.
    func cut() {
        close(writeEnd)
        _ = watcher.waitBlocking()
    }
}

public enum NginxError: Error, CustomStringConvertible {
    case didNotStart(String)

    public var description: String {
        switch self {
        case let .didNotStart(reason): "test nginx did not start: \(reason)"
        }
    }
}
