import Logging
import RemoteImage

/// `--refresh-interval`: credentials renewed on a schedule, before they
/// expire, rather than only when the server refuses them.
enum CredentialRenewal {
    /// Refreshes `credentials` every `interval` until the process ends; a
    /// failed refresh is logged and the old credentials stay in use.
    static func start(_ credentials: CredentialRefresher, every interval: Duration, logger: Logger) {
        Task.detached {
            while true {
                try? await Task.sleep(for: interval)
                do {
                    _ = try await credentials.refresh(after: credentials.current.generation)
                } catch {
                    logger.warning("renewing the credentials failed; the current ones stay in use", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
