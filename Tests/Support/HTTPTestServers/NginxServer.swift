import Foundation
import Synchronization

/// nginx serving a directory on a free loopback port, started natively from
/// the same `docker/nginx.conf` the Docker recipe uses (via
/// `scripts/lib/nginx-config`). Its access log lets a test count requests.
///
/// nginx runs as a single process tied to the test process: if the tests die,
/// the kernel kills it too (`setpriv --pdeathsig`).
public final class NginxServer: Sendable {
    /// The served directory.
    public let root: URL
    public let port: Int
    private let workDirectory: URL
    private let process: Mutex<Process>

    /// Starts nginx serving `root`. Throws if nginx is missing or does not
    /// come up.
    public init(root: URL) throws {
        self.root = root
        workDirectory = FileManager.default.temporaryDirectory.appending(path: "lazydisk-nginx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try Self.freePort()
            do {
                let process = try Self.launch(port: port, root: root, workDirectory: workDirectory)
                self.port = port
                self.process = Mutex(process)
                return
            } catch {
                lastError = error
            }
        }
        throw lastError ?? NginxError.didNotStart("no free port")
    }

    deinit {
        process.withLock { $0.terminate() }
    }

    /// `http://127.0.0.1:PORT/NAME`.
    public func url(_ name: String) -> String {
        "http://127.0.0.1:\(port)/\(name)"
    }

    /// Access log lines so far: `METHOD URI "RANGE" "IF-MATCH" STATUS BYTES`.
    public var accessLog: [String] {
        let text = (try? String(contentsOf: workDirectory.appending(path: "access.log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    /// The repository's root, found from this file's location.
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private static func launch(port: Int, root: URL, workDirectory: URL) throws -> Process {
        let config = workDirectory.appending(path: "nginx.conf")
        let generate = Process()
        generate.executableURL = repositoryRoot.appending(path: "scripts/lib/nginx-config")
        generate.arguments = ["\(port)", root.path, workDirectory.path]
        let output = Pipe()
        generate.standardOutput = output
        try generate.run()
        let text = output.fileHandleForReading.readDataToEndOfFile()
        generate.waitUntilExit()
        guard generate.terminationStatus == 0 else { throw NginxError.didNotStart("nginx-config failed") }
        try text.write(to: config)

        let nginx = Process()
        nginx.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        nginx.arguments = ["--pdeathsig", "KILL", "--", try nginxPath(), "-p", workDirectory.path, "-c", config.path, "-e", "stderr"]
        nginx.standardError = FileHandle.nullDevice
        try nginx.run()
        for _ in 0..<200 {
            if canConnect(port: port) { return nginx }
            guard nginx.isRunning else { break }
            usleep(10_000)
        }
        nginx.terminate()
        throw NginxError.didNotStart("nginx did not listen on port \(port)")
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
