import HTTPClient
import ImageModel

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
        let credentials = Credentials(headers: loaded, awsSigning: try aws?.load(), url: url)
        try Self.checkSize(of: credentials)
        return credentials
    }

    /// The most header bytes a request may carry: nginx and S3 refuse far
    /// less, and libcurl runs out of memory building a request from 100,000
    /// headers; so a mistake is named here, not as curl's "Out of memory".
    static let largestHeaders = 64 << 10
    /// The longest AWS key, secret or session token (session tokens run to
    /// a few KiB).
    static let largestAWSValue = 16 << 10

    private static func checkSize(of credentials: Credentials) throws {
        let headerBytes = credentials.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
        guard headerBytes <= largestHeaders else {
            throw CommandError(
                "the request headers (--header, --header-file, --header-command) take \(headerBytes) bytes; lazydisk sends at most \(largestHeaders >> 10) KiB")
        }
        if let signing = credentials.awsSigning {
            for (name, value) in [("access key id", signing.accessKeyID), ("secret access key", signing.secretAccessKey),
                                  ("session token", signing.sessionToken ?? "")]
            where value.utf8.count > largestAWSValue {
                throw CommandError("the AWS \(name) from \(signing.source) is \(value.utf8.count) bytes; lazydisk takes at most \(largestAWSValue >> 10) KiB")
            }
        }
    }

    /// Whether anything here can change after start.
    var changes: Bool {
        headerFile != nil || headerCommand != nil || urlCommand != nil || aws != nil
    }
}
