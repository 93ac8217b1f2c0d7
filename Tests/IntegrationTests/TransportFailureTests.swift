import Foundation
import HTTPTestServers
import Testing

/// A request that fails in transport is retried, and the error at the end
/// names what went wrong the first time (curl's words for it), after all
/// its attempts: never what a reused handle said on a retry.
@Suite("Transport failures keep their cause")
struct TransportFailureTests {
    /// `attempts` nil: a failure that is not retried.
    private static func expectFailure(_ url: String, _ extra: [String] = [], saying cause: String, attempts: Int? = 3) async throws {
        let result = try await LazyDiskRun.run(["info", url, "--retries", "\((attempts ?? 3) - 1)"] + extra)
        #expect(result.status == 1)
        #expect(result.error.contains(cause), "\(result.error)")
        #expect(attempts.map { result.error.contains("(gave up after \($0) attempts)") } ?? !result.error.contains("gave up"), "\(result.error)")
        #expect(!result.error.contains("bad argument"), "\(result.error)")
    }

    @Test(.timeLimit(.minutes(5))) func aNameThatDoesNotResolve() async throws {
        try await Self.expectFailure("http://no-such-host.invalid/disk.img", saying: "Could not resolve host: no-such-host.invalid")
    }

    @Test(.timeLimit(.minutes(5))) func aRefusedConnection() async throws {
        try await Self.expectFailure("http://127.0.0.1:1/disk.img", saying: "Couldn't connect to server")
    }

    /// TLS spoken to a server that answers plain HTTP: not transient, so
    /// not retried.
    @Test(.timeLimit(.minutes(5))) func aFailedTLSHandshake() async throws {
        let nginx = try NginxServer(root: NginxFixtures.directory)
        let url = nginx.url("hello.img").replacingOccurrences(of: "http://", with: "https://")
        try await Self.expectFailure(url, saying: "SSL routines::wrong version number", attempts: nil)
    }

    /// A server that takes the connection and never answers.
    @Test(.timeLimit(.minutes(5))) func aServerThatNeverAnswers() async throws {
        let listener = try QuietListener()
        try await Self.expectFailure(
            "http://127.0.0.1:\(listener.port)/disk.img", ["--low-speed-timeout", "1", "--retry-max-time", "30"],
            saying: "Operation too slow", attempts: 2)
    }
}
