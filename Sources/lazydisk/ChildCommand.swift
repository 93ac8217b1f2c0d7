import Dispatch
import Foundation

/// Shell commands lazydisk starts: `--run`, with extra environment
/// variables, and the commands that print credentials (`--url-command`,
/// `--header-command`), whose output is read; awaited without blocking the
/// cooperative pool.
///
/// It is spawned with `posix_spawn`, an empty signal mask and default signal
/// handlers: Foundation's `Process` passes on the mask of the Dispatch thread
/// that starts it, which blocks most signals, and QEMU or nbdcopy stall or
/// cannot be stopped with their signals blocked.
enum ChildCommand {
    /// Starts `command` with `sh -c`; returns its process id.
    static func start(_ command: String, environment: [String: String]) throws -> pid_t {
        try spawn(["/bin/sh", "-c", command], environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, name: "--run command")
    }

    /// Runs `command` with `sh -c` to its end and returns its exit status
    /// and what it printed (standard error passes through). `name` says
    /// which option gave it, for errors.
    static func output(of command: String, name: String) async throws -> (status: Int32, output: String) {
        // Close-on-exec from the start (pipe2 is out of reach of Swift's
        // Glibc), so no other child started meanwhile holds the write end.
        var ends: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw CommandError("cannot run \(name): \(String(cString: strerror(errno)))")
        }
        let (readEnd, writeEnd) = (ends[0], ends[1])
        let pid: pid_t
        do {
            defer { close(writeEnd) }
            pid = try spawn(["/bin/sh", "-c", command], environment: ProcessInfo.processInfo.environment, output: writeEnd, name: name)
        } catch {
            close(readEnd)
            throw error
        }
        let output = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let data = FileHandle(fileDescriptor: readEnd, closeOnDealloc: true).readDataToEndOfFile()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
        return (await wait(for: pid), output)
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

    /// Spawns `arguments` with `output`, when given, as its standard output.
    private static func spawn(_ arguments: [String], environment: [String: String], output: Int32? = nil, name: String) throws -> pid_t {
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
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let output {
            posix_spawn_file_actions_adddup2(&actions, output, STDOUT_FILENO)
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw CommandError("cannot start \(name): \(String(cString: strerror(result)))")
        }
        return pid
    }
}
