import ImageModel
import RemoteImage

/// The credentials the command line describes, loaded afresh on every
/// refresh: `--header` lines, the `--header-file` as it is now, what
/// `--header-command` prints, the URL `--url-command` prints, and AWS keys
/// from their chain.
struct CommandLineCredentials: CredentialSource {
    var headers: [HTTPHeader] = []
    var headerFile: String?
    var headerCommand: String?
    var urlCommand: String?
    var aws: AWSCredentialChain?
    /// How long `--header-command` and `--url-command` may run.
    var commandTimeLimit = ChildCommand.defaultTimeLimit

    func load() async throws -> Credentials {
        try await load(knownURL: nil)
    }

    /// The credentials, with `knownURL` as the URL instead of running
    /// `--url-command` again: the command has just given it to open the
    /// image, and a command that mints a presigned URL can be slow.
    func load(knownURL: ImageURL?) async throws -> Credentials {
        var loaded = headers
        if let headerFile {
            loaded += try HeaderLines.parse(text: try readOptionFile(headerFile, option: "--header-file"), from: "--header-file")
        }
        if let headerCommand {
            let output = try await ChildCommand.output(of: headerCommand, name: "--header-command", timeLimit: commandTimeLimit)
            loaded += try HeaderLines.parse(text: output, from: "--header-command")
        }
        var url = knownURL?.absoluteString
        if let urlCommand, url == nil {
            url = try await ImageSource.url(from: urlCommand, timeLimit: commandTimeLimit).absoluteString
        }
        return Credentials(headers: loaded, awsSigning: try aws?.load(), url: url)
    }

    /// Whether anything here can change after start.
    var changes: Bool {
        headerFile != nil || headerCommand != nil || urlCommand != nil || aws != nil
    }
}
