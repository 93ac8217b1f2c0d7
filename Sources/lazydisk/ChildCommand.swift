import Subprocess
import Synchronization
import SystemPackage

/// Shell commands lazydisk starts: `--run`, and the commands that print
/// credentials (`--url-command`, `--header-command`), whose output is read.
///
/// Each runs with `sh -c` through swift-subprocess, which spawns it with
/// default signal handlers, an empty signal mask and no descriptor of ours
/// but the standard three: a command that forks (QEMU under the shell, a
/// `sleep &`) can never hold lazydisk's listening socket, its clients or
/// its HTTP connections. Each runs in a process group of its own, so
/// signals reach everything it started, and whatever is left of the group
/// when the command ends is stopped (``ProcessGroup/stop(within:)``).
enum ChildCommand {
    /// The most a credential command may print: a URL or a few headers.
    static let outputLimit = 64 << 10
    /// How long a credential command may run when no `--retry-max-time`
    /// says otherwise (`cache status`, `cache clear`).
    static let defaultTimeLimit: Duration = .seconds(60)
    /// How long what is left of a group has between SIGTERM and SIGKILL.
    static let stopGrace: Duration = .seconds(2)

    /// Runs `command` (`--run`) with `environment` added to ours, with our
    /// standard input, output and error, to its end; returns its exit
    /// status (128 + the signal that ended it). While it runs, the stop
    /// signals sent to lazydisk (``StopSignal``) go to its whole group,
    /// and when lazydisk has the terminal, the group gets it: QEMU's
    /// `-nographic` console reads it and sets its modes as under a shell.
    static func run(_ command: String, environment: [String: String]) async throws -> Int32 {
        // Made first: from here on, the signals no longer end lazydisk.
        let signals = StopSignal.signals()
        let outcome = try await Subprocess.run(
            .path("/bin/sh"), arguments: ["-c", command],
            environment: .inherit.updating(Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(stringLiteral: $0.key), $0.value) })),
            platformOptions: ProcessGroup.ownGroupOptions,
            input: .currentStandardInput, output: .currentStandardOutput, error: .currentStandardError
        ) { execution in
            let group = ProcessGroup(leader: execution.processIdentifier.value)
            let terminal = TerminalForeground.hand(to: group)
            let forwarding = Task {
                for await signal in signals {
                    group.signal(signal)
                }
            }
            return (group, terminal, forwarding)
        }
        let (group, terminal, forwarding) = outcome.closureResult
        forwarding.cancel()
        terminal?.takeBack()
        await group.stop(within: stopGrace)
        return outcome.terminationStatus.exitStatus
    }

    /// Runs `command` with `sh -c` to its end and returns what it printed
    /// (standard error passes through). `name` says which option gave it.
    /// Throws a one-line error when it exits with another status than 0,
    /// prints more than ``outputLimit`` bytes, or runs longer than
    /// `timeLimit` (its group is then stopped).
    static func output(of command: String, name: String, timeLimit: Duration) async throws -> String {
        let described = "\(name) '\(command)'"
        let started = StartedGroup()
        let run = Task {
            try await Subprocess.run(
                .path("/bin/sh"), arguments: ["-c", command], platformOptions: ProcessGroup.ownGroupOptions,
                input: .none, output: .bytes(limit: outputLimit), error: .currentStandardError
            ) { execution in
                started.record(ProcessGroup(leader: execution.processIdentifier.value))
            }
        }
        let timer = Task {
            try await Task.sleep(for: timeLimit)
            started.timeOut()
            await started.group?.stop(within: stopGrace)
        }
        let outcome = await run.result
        if started.timedOut {
            _ = await timer.result
            throw CommandError("\(described) did not finish within \(timeLimit.secondsDescription)")
        }
        timer.cancel()
        let result: ExecutionResult<Void, BytesOutput, FileDescriptorOutput>
        do {
            result = try outcome.get()
        } catch let error as SubprocessError where error.code == .init(.outputLimitExceeded) {
            throw CommandError("\(described) printed more than \(outputLimit >> 10) KiB")
        } catch {
            throw CommandError("cannot run \(described): \(error)")
        }
        await started.group?.stop(within: stopGrace)
        let status = result.terminationStatus.exitStatus
        guard status == 0 else {
            throw CommandError("\(described) exited with status \(status)")
        }
        return String(decoding: result.standardOutput, as: UTF8.self)
    }
}

extension TerminationStatus {
    /// As a shell reports it: the exit code, or 128 + the signal's number.
    var exitStatus: Int32 {
        switch self {
        case let .exited(code): code
        case let .signaled(signal): 128 + signal
        }
    }
}

extension Duration {
    /// "2 s", "0.5 s": for messages.
    var secondsDescription: String {
        let seconds = Double(components.seconds) + Double(components.attoseconds) / 1e18
        return seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
    }
}

/// The group of a command that is being started, for whoever has to stop
/// it before its run returns.
private final class StartedGroup: Sendable {
    private let state = Mutex<(group: ProcessGroup?, timedOut: Bool)>((nil, false))

    func record(_ group: ProcessGroup) {
        state.withLock { $0.group = group }
    }

    func timeOut() {
        state.withLock { $0.timedOut = true }
    }

    var group: ProcessGroup? {
        state.withLock { $0.group }
    }

    var timedOut: Bool {
        state.withLock { $0.timedOut }
    }
}
