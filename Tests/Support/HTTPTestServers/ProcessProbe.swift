import Foundation

/// What a test can see of a process it did not start: whether it still runs,
/// and the descriptors it holds.
public enum ProcessProbe {
    /// Whether `pid` is a live process (a zombie, ended but not yet reaped
    /// by whoever inherited it, counts as ended).
    public static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(close, offsetBy: 2)] != "Z"
    }
}
