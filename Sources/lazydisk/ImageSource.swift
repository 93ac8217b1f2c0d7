import ImageModel

/// Where the image is: its URL, whether its requests are signed with AWS
/// SigV4 (an `s3://` URL), and the `--url-command` that mints a new URL (a
/// presigned or SAS URL) when the server refuses the old.
struct ImageSource {
    var url: ImageURL
    var signsForAWS = false
    var urlCommand: String?

    /// The image named by `text`: an http(s) URL, or `s3://BUCKET/KEY`.
    init(_ text: some StringProtocol, environment: [String: String]) throws {
        if text.hasPrefix(S3Location.scheme) {
            let chain = AWSCredentialChain(environment: environment)
            url = try S3Location(String(text)).httpsURL(region: chain.checkedRegion(), environment: environment)
            signsForAWS = true
        } else {
            url = try ImageURL(String(text))
        }
    }

    /// Runs `command` and takes the first line it printed as the image's
    /// URL, an http(s) URL.
    static func url(from command: String, timeLimit: Duration) async throws -> ImageURL {
        let output = try await ChildCommand.output(of: command, name: "--url-command", timeLimit: timeLimit)
        guard let line = output.split(whereSeparator: \.isNewline).first?.trimmingWhitespace, !line.isEmpty else {
            throw CommandError("--url-command '\(command)' printed no URL")
        }
        return try ImageURL(line)
    }
}
