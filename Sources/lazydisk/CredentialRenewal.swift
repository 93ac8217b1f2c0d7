import Glibc
import HTTPClient
import SystemPackage

/// Credentials renewed before the server refuses them: every
/// `--refresh-interval`, and as soon as the `--header-file` changes (a
/// secret that an agent rotates in place or renames into place).
enum CredentialRenewal {
    /// How often the header file is looked at.
    static let watchInterval: Duration = .seconds(1)

    /// Refreshes `credentials` every `interval` and whenever `file`
    /// changes, until the process ends; a failed refresh is logged and the
    /// old credentials stay in use.
    static func start(_ credentials: CredentialRefresher, every interval: Duration?, watching file: String?) {
        Task.detached {
            let clock = ContinuousClock()
            var lastScheduled = clock.now
            var lastSeen = file.flatMap(FileVersion.init)
            while true {
                try? await Task.sleep(for: file == nil ? interval ?? watchInterval : min(interval ?? watchInterval, watchInterval))
                let seen = file.flatMap(FileVersion.init)
                let due = interval.map { clock.now - lastScheduled >= $0 } ?? false
                guard due || seen != lastSeen else { continue }
                lastSeen = seen
                if due {
                    lastScheduled = clock.now
                }
                do {
                    _ = try await credentials.refresh(after: credentials.current.generation)
                } catch {
                    printWarning("renewing the credentials failed, the current ones stay in use: \(error)")
                }
            }
        }
    }
}

/// What tells one version of a file from the next: its inode (a file
/// renamed into place), size and modification time; nil while it is
/// missing.
private struct FileVersion: Equatable {
    let inode: Inode
    let size: Int64
    let modified: [Int]

    init?(_ path: String) {
        guard let status = try? FilePath(path).stat() else { return nil }
        inode = status.inode
        size = status.size
        modified = [status.st_mtim.tv_sec, status.st_mtim.tv_nsec]
    }
}
