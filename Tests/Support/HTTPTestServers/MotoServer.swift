import Foundation

/// moto_server, an S3 (and IAM, STS) implementation, on a free loopback
/// port with authentication enforced: a bucket that only signed requests
/// can read, prepared by `scripts/lib/moto-setup` as a user would set up a
/// private bucket. moto comes from the virtual environment `scripts/test`
/// makes (`LAZYDISK_MOTO_VENV`, by default `.build-moto` in the repository).
/// It stops when this object goes away, or when the test process dies (see
/// ``Lifeline``).
public final class MotoServer: Sendable {
    /// Keys of an IAM user allowed to read the bucket, and a role's
    /// temporary keys with their session token.
    public struct Keys: Sendable, Decodable {
        public let accessKeyId: String
        public let secretAccessKey: String
        public let sessionAccessKeyId: String
        public let sessionSecretAccessKey: String
        public let sessionToken: String
    }

    public let port: Int
    public let keys: Keys
    private let lifeline: Lifeline

    /// Starts moto and puts `files` in `bucket`.
    public init(bucket: String, files: [URL]) throws {
        let environment = Self.virtualEnvironment
        guard FileManager.default.isExecutableFile(atPath: "\(environment)/bin/moto_server") else {
            throw MotoError.notInstalled(environment)
        }
        port = try LoopbackPort.free()
        // The IAM user, its policy and its keys are the three requests made
        // before authentication is enforced.
        lifeline = try Lifeline.start(
            "INITIAL_NO_AUTH_ACTION_COUNT=3 \"$0\" -H 127.0.0.1 -p \"$1\" & server=$!; read -r _; kill -TERM $server; wait $server",
            ["\(environment)/bin/moto_server", "\(port)"])
        var listening = false
        for _ in 0..<1000 where lifeline.watcher.isRunning {
            if LoopbackPort.accepts(port) {
                listening = true
                break
            }
            usleep(20_000)
        }
        guard listening else {
            lifeline.cut()
            throw MotoError.didNotStart(port)
        }
        do {
            let setup = NginxServer.repositoryRoot.appending(path: "scripts/lib/moto-setup").path
            let output = try runTool("\(environment)/bin/python", [setup, "http://127.0.0.1:\(port)", bucket] + files.map(\.path))
            keys = try JSONDecoder().decode(Keys.self, from: output)
        } catch {
            lifeline.cut()
            throw error
        }
    }

    deinit {
        lifeline.cut()
    }

    /// What `AWS_ENDPOINT_URL` is set to for lazydisk.
    public var endpoint: String { "http://127.0.0.1:\(port)" }

    private static var virtualEnvironment: String {
        ProcessInfo.processInfo.environment["LAZYDISK_MOTO_VENV"]
            ?? NginxServer.repositoryRoot.appending(path: ".build-moto").path
    }
}

public enum MotoError: Error, CustomStringConvertible {
    case notInstalled(String)
    case didNotStart(Int)

    public var description: String {
        switch self {
        case let .notInstalled(path): "moto_server is not in \(path) (scripts/test installs it)"
        case let .didNotStart(port): "moto_server did not listen on port \(port)"
        }
    }
}
