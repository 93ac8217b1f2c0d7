import Glibc
import Subprocess
import Synchronization

/// The process group a child command leads: the command and everything it
/// starts (QEMU under `sh -c`, a `sleep &`), signalled together. Groups
/// still alive are known process-wide, so an exit at once (a second
/// signal) still stops them.
struct ProcessGroup: Sendable, Hashable {
    let id: pid_t

    /// Options that put a child in a group of its own, which it leads.
    static var ownGroupOptions: PlatformOptions {
        var options = PlatformOptions()
        options.processGroupID = 0
        return options
    }

    /// The group of the child `leader`, started with ``ownGroupOptions``.
    init(leader: pid_t) {
        id = leader
        Self.alive.withLock { _ = $0.insert(self) }
    }

    func signal(_ number: Int32) {
        kill(-id, number)
    }

    /// Whether any process of the group is left.
    var isEmpty: Bool {
        kill(-id, 0) == -1 && errno == ESRCH
    }

    /// Stops what is left of the group once its leader has ended: SIGTERM,
    /// then SIGKILL if anything is still there after `grace`; returns once
    /// the group is gone (or a moment after SIGKILL, which cannot be
    /// refused). The group's members are not our children, so this looks
    /// rather than waits, and only at the end of a command.
    func stop(within grace: Duration) async {
        defer { Self.alive.withLock { _ = $0.remove(self) } }
        guard !isEmpty else { return }
        signal(SIGTERM)
        signal(SIGCONT)
        guard await vanishes(within: grace) else {
            signal(SIGKILL)
            _ = await vanishes(within: .seconds(1))
            return
        }
    }

    /// Whether the group is gone within `time`, looked at every 20 ms
    /// (false at once in a cancelled task, which cannot wait).
    private func vanishes(within time: Duration) async -> Bool {
        let deadline = ContinuousClock.now + time
        while !isEmpty {
            guard ContinuousClock.now < deadline, (try? await Task.sleep(for: .milliseconds(20))) != nil else { return false }
        }
        return true
    }

    /// Stops every group still alive, together, and returns once they are
    /// gone: the end of a command that can wait, so nothing it started (a
    /// credential command still hanging) outlives it.
    static func stopAll(within grace: Duration) async {
        await withTaskGroup(of: Void.self) { stopping in
            for group in alive.withLock({ $0 }) {
                stopping.addTask { await group.stop(within: grace) }
            }
        }
    }

    /// Kills every group still alive: the last thing before an exit that
    /// cannot wait.
    static func killAll() {
        for group in alive.withLock({ $0 }) {
            group.signal(SIGKILL)
        }
    }

    private static let alive = Mutex<Set<ProcessGroup>>([])
}
