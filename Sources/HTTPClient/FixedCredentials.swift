/// Credentials that never change: the `--header` options, or none.
public struct FixedCredentials: CredentialSource {
    public let credentials: Credentials

    public init(_ credentials: Credentials = Credentials()) {
        self.credentials = credentials
    }

    public func load() async throws -> Credentials { credentials }
}
