/// Where credentials come from, loaded at start and again whenever the
/// server rejects the ones in use or they are due: commands that mint a
/// token or a signed URL, a header file, AWS's credential chain.
public protocol CredentialSource: Sendable {
    /// Loads the credentials to use now. Throws an error that names the
    /// source (a command and its exit status), never a secret.
    func load() async throws -> Credentials
}
