import CProcessShims
import Foundation
import Synchronization

/// A process a test starts, spawned so that it cannot hold on to anything of
/// another test's and so that signals reach it.
///
/// Foundation's `Process` passes on the blocked signal mask of the Dispatch
/// thread that starts it (SIGTERM then waits forever) and leaves open any
/// descriptor a parallel test created without close-on-exec. Here the child
/// gets an empty signal mask, default handlers, its three standard streams
/// and no other descriptor: everything from 3 up is closed in the child.
public final class ChildProcess: Sendable {
    /// How a child ended.
    public enum Termination: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        public var description: String {
            switch self {
            case let .exited(status): "exit status \(status)"
            case let .signaled(signal): "signal \(signal)"
            }
        }
    }

    /// Where one of the child's standard streams goes.
    public enum Stream: Sendable {
        /// `/dev/null`.
        case null
        /// A descriptor of this process, duplicated into the child.
        case descriptor(Int32)
        /// No descriptor at all: the child finds it closed.
        case closed
    }

    public let pid: pid_t
    private let termination = Mutex<Termination?>(nil)

    /// Starts `path` with `arguments`; throws with the reason if it cannot.
    public init(
        _ path: String, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        input: Stream = .null, output: Stream = .null, error: Stream = .null
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (stream, target) in [(input, STDIN_FILENO), (output, STDOUT_FILENO), (error, STDERR_FILENO)] {
            switch stream {
            case .null: posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == STDIN_FILENO ? O_RDONLY : O_WRONLY, 0)
            case let .descriptor(descriptor): posix_spawn_file_actions_adddup2(&actions, descriptor, target)
            case .closed: posix_spawn_file_actions_addclose(&actions, target)
            }
        }
        cprocess_addclosefrom(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw ChildProcessError(path: path, reason: String(cString: strerror(result)))
        }
        self.pid = pid
    }

    /// Whether the child has not ended yet. Only ``wait()`` reaps it, so its
    /// pid stays its own until then and ``send(_:)`` cannot hit another process.
    public var isRunning: Bool {
        guard termination.withLock({ $0 }) == nil else { return false }
        var info = siginfo_t()
        return waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info._sifields._kill.si_pid == 0
    }

    /// Sends `signal` unless the child has already been reaped.
    public func send(_ signal: Int32) {
        termination.withLock { termination in
            if termination == nil {
                _ = kill(pid, signal)
            }
        }
    }

    /// Asks the child to stop (SIGTERM) and waits until it has: for `defer`
    /// blocks, so that a test that fails half-way leaves nothing running.
    @discardableResult
    public func stop() -> Termination {
        send(SIGTERM)
        return waitBlocking()
    }

    /// Blocks the calling thread until the child ends, and reaps it.
    public func waitBlocking() -> Termination {
        if let ended = termination.withLock({ $0 }) {
            return ended
        }
        var status: Int32 = 0
        var result: pid_t
        repeat {
            result = waitpid(pid, &status, 0)
        } while result == -1 && errno == EINTR
        let signal = status & 0x7F
        let ended: Termination = result != pid ? .exited(-1) : signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
        return termination.withLock { termination in
            termination = termination ?? ended
            return termination!
        }
    }

    /// Waits for the child to end, off the cooperative pool.
    public func wait() async -> Termination {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: self.waitBlocking())
            }
        }
    }
}

/// A pipe whose two ends are close-on-exec from the moment they exist, so a
/// process another thread spawns meanwhile never inherits either; returns
/// (read end, write end).
public func closeOnExecPipe() throws -> (read: Int32, write: Int32) {
    var descriptors: [Int32] = [-1, -1]
    guard cprocess_pipe_cloexec(&descriptors) == 0 else {
        throw ChildProcessError(path: "pipe2", reason: String(cString: strerror(errno)))
    }
    return (descriptors[0], descriptors[1])
}

/// A child that could not be started.
public struct ChildProcessError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String

    public var description: String { "cannot start \(path): \(reason)" }
}
