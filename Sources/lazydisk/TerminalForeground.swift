import Glibc

/// The terminal lazydisk runs in, handed to a `--run` command's process
/// group and taken back after, as a shell does for a job: a program in a
/// group that is not the terminal's foreground is stopped when it reads
/// the terminal or sets its modes (QEMU's `-nographic` console does both).
struct TerminalForeground {
    private let terminal: Int32

    /// Gives the terminal on standard input to `group`, when lazydisk's
    /// group has it now; nil when there is nothing to hand over (no
    /// terminal, or lazydisk runs in the background).
    static func hand(to group: ProcessGroup) -> TerminalForeground? {
        let terminal = STDIN_FILENO
        guard isatty(terminal) == 1, tcgetpgrp(terminal) == getpgrp() else { return nil }
        guard tcsetpgrp(terminal, group.id) == 0 else { return nil }
        // The child may have touched the terminal before it was handed
        // over, and been stopped for it.
        group.signal(SIGCONT)
        return TerminalForeground(terminal: terminal)
    }

    /// Makes lazydisk's group the terminal's foreground again. Asking from
    /// the background raises SIGTTOU, which is ignored for the call.
    func takeBack() {
        let previous = signal(SIGTTOU, SIG_IGN)
        tcsetpgrp(terminal, getpgrp())
        signal(SIGTTOU, previous)
    }
}
