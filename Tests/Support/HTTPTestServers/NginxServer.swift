import Foundation

/// nginx serving a directory on a free loopback port, started natively from
/// the same `docker/nginx.conf` the Docker recipe uses (via
/// `scripts/lib/nginx-config`). Its access log lets a test count requests.
///
/// nginx runs as a single process under a small shell that holds the read
/// end of a pipe from the test process and kills nginx when the pipe closes:
/// when this object goes away, or when the test process dies.
public final class NginxServer: Sendable {
    /// The served directory.
    public let root: URL
    public let port: Int
    /// The TLS (and HTTP/2) port, when started with `tls: true`.
    public let tlsPort: Int?
    /// The self-signed certificate the TLS server presents (for 127.0.0.1).
    public let certificateFile: URL
    private let workDirectory: URL
    private let lifeline: FileHandle

    /// Starts nginx serving `root`, and with `tls` a second server speaking
    /// TLS and HTTP/2 with a fresh self-signed certificate. Throws if nginx is
    /// missing or does not come up.
    public init(root: URL, tls: Bool = false) throws {
        self.root = root
        workDirectory = FileManager.default.temporaryDirectory.appending(path: "lazydisk-nginx-\(UUID().uuidString)")
        certificateFile = workDirectory.appending(path: "cert.pem")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        let key = workDirectory.appending(path: "key.pem")
        if tls {
            try Self.makeCertificate(certificate: certificateFile, key: key)
        }
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try Self.freePort()
            let tlsPort = tls ? try Self.freePort() : nil
            var arguments = ["\(port)", root.path, workDirectory.path]
            if let tlsPort {
                arguments += ["\(tlsPort)", certificateFile.path, key.path]
            }
            do {
                lifeline = try Self.launch(arguments, ports: [port] + (tlsPort.map { [$0] } ?? []), workDirectory: workDirectory)
                self.port = port
                self.tlsPort = tlsPort
                return
            } catch {
                lastError = error
            }
        }
        throw lastError ?? NginxError.didNotStart("no free port")
    }

    deinit {
        try? lifeline.close()
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
        let text = (try? String(contentsOf: workDirectory.appending(path: "access.log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    /// The repository's root, found from this file's location.
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Starts nginx and returns the write end of its lifeline.
    private static func launch(_ configArguments: [String], ports: [Int], workDirectory: URL) throws -> FileHandle {
        let config = workDirectory.appending(path: "nginx.conf")
        try runTool(repositoryRoot.appending(path: "scripts/lib/nginx-config").path, configArguments).write(to: config)

        let nginx = Process()
        nginx.executableURL = URL(fileURLWithPath: "/bin/sh")
        nginx.arguments = [
            // SIGKILL: nginx inherits the blocked signal mask of the thread that
            // spawned it, so SIGTERM would wait forever.
            // Its work directory (config, logs, temporary files) goes with it.
            "-c", "\"$0\" -p \"$1\" -c \"$2\" -e stderr & server=$!; read -r _; kill -KILL $server; wait $server; rm -rf \"$1\"",
            try nginxPath(), workDirectory.path, config.path,
        ]
        let lifeline = Pipe()
        // Only the test process may hold the write end, or the lifeline
        // would never close; later children must not inherit it.
        _ = fcntl(lifeline.fileHandleForWriting.fileDescriptor, F_SETFD, FD_CLOEXEC)
        nginx.standardInput = lifeline
        nginx.standardOutput = FileHandle.nullDevice
        nginx.standardError = FileHandle.nullDevice
        try nginx.run()
        // nginx writes its pid file only once it holds its ports; without that
        // check a port another test's nginx took would pass for ours.
        let pidFile = workDirectory.appending(path: "nginx.pid").path
        for _ in 0..<200 {
            if FileManager.default.fileExists(atPath: pidFile) && ports.allSatisfy(canConnect) {
                return lifeline.fileHandleForWriting
            }
            guard nginx.isRunning else { break }
            usleep(10_000)
        }
        try? lifeline.fileHandleForWriting.close()
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

    /// A port the kernel just handed out, free a moment ago.
    private static func freePort() throws -> Int {
        let descriptor = tcpSocket()
        defer { close(descriptor) }
        var address = sockaddr_in.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else { throw NginxError.didNotStart("cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func canConnect(port: Int) -> Bool {
        let descriptor = tcpSocket()
        defer { close(descriptor) }
        var address = sockaddr_in.loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
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

private func tcpSocket() -> Int32 {
    socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
}

extension sockaddr_in {
    fileprivate static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}
