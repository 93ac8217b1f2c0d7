import Foundation

/// Where tests make their temporary files and directories.
///
/// `scripts/test` sets `LAZYDISK_TEST_TMPDIR` to a directory of the run's own
/// and afterwards fails if anything is left in it; Swift's package manager
/// keeps its own temporary files in `TMPDIR`, which is why this is a
/// variable of its own. Without it (a bare `swift test`), the system's
/// temporary directory.
public enum TestTemporaryRoot {
    public static let url: URL = {
        if let root = ProcessInfo.processInfo.environment["LAZYDISK_TEST_TMPDIR"], root.hasPrefix("/") {
            return URL(fileURLWithPath: root, isDirectory: true)
        }
        return FileManager.default.temporaryDirectory
    }()

    /// A new, unique path under the root, for a directory of the caller's.
    public static func uniquePath(_ prefix: String) -> URL {
        url.appending(path: "\(prefix)-\(UUID().uuidString)")
    }
}
