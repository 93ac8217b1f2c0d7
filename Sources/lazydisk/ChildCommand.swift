import Dispatch
import Foundation

/// The `--run` command: a shell command started with extra environment
/// variables, awaited without blocking the cooperative pool.
///
/// It is spawned with `posix_spawn`, an empty signal mask and default signal
/// handlers: Foundation's `Process` passes on the mask of the Dispatch thread
/// that starts it, which blocks most signals, and QEMU or nbdcopy stall or
/// cannot be stopped with their signals blocked.
enum ChildCommand {
    /// Starts `command` with `sh -c`; returns its process id.
    static func start(_ command: String, environment: [String: String]) throws -> pid_t {
        try spawn(["/bin/sh", "-c", command], environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
    }

    /// Waits for the child `pid` to end and returns its exit status (128 +
    /// signal number when a signal ended it).
    static func wait(for pid: pid_t) async -> Int32 {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                let signal = status & 0x7F
                continuation.resume(returning: signal == 0 ? (status >> 8) & 0xFF : 128 + signal)
            }
        }
    }

    private static func spawn(_ arguments: [String], environment: [String: String]) throws -> pid_t {
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

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], nil, &attributes, argv, envp)
        guard result == 0 else {
            throw CommandError("cannot start --run command: \(String(cString: strerror(result)))")
        }
        return pid
    }
}
