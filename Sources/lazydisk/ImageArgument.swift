import ArgumentParser
import FoundationEssentials
import ImageModel
import RemoteImage

/// The image's URL, given as the argument, or kept out of `ps` in a file
/// (`--url-file`) or the environment (`LAZYDISK_URL`): presigned signatures,
/// SAS tokens and user information are secrets.
struct ImageArgument: ParsableArguments {
    static let environmentVariable = "LAZYDISK_URL"

    @Argument(help: ArgumentHelp(
        "The image's http(s) or s3://BUCKET/KEY URL (or --url-file, or $LAZYDISK_URL, to keep a signed URL out of ps).",
        valueName: "url"))
    var url: String?

    @Option(help: ArgumentHelp("Read the image's URL from the first line of this file.", valueName: "file"))
    var urlFile: String?

    @Option(help: ArgumentHelp(
        "Run this shell command for the image's URL (a new presigned or SAS URL), at start and again when the server refuses it.",
        valueName: "command"))
    var urlCommand: String?

    func validate() throws {
        if [url != nil, urlFile != nil, urlCommand != nil].filter({ $0 }).count > 1 {
            throw ValidationError("give the URL one way: as an argument, with --url-file or with --url-command")
        }
    }

    /// The image: from the command if there is one (given `commandTimeLimit`
    /// to print it), else the argument, the file or `LAZYDISK_URL`.
    func source(
        commandTimeLimit: Duration = ChildCommand.defaultTimeLimit, environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> ImageSource {
        guard let urlCommand else { return try ImageSource(text(environment: environment), environment: environment) }
        let url = try await ImageSource.url(from: urlCommand, timeLimit: commandTimeLimit)
        var source = try ImageSource(url.absoluteString, environment: environment)
        source.urlCommand = urlCommand
        return source
    }

    /// The URL from the argument, else the file, else `LAZYDISK_URL`.
    private func text(environment: [String: String]) throws -> String {
        if let url {
            return url
        }
        if let urlFile {
            guard let line = try readOptionFile(urlFile, option: "--url-file").split(whereSeparator: \.isNewline).first else {
                throw CommandError("--url-file \(urlFile) is empty")
            }
            return line.trimmingWhitespace
        }
        if let url = environment[Self.environmentVariable], !url.isEmpty {
            return url
        }
        throw CommandError("no image URL: give it as an argument, with --url-file or --url-command, or in \(Self.environmentVariable)")
    }
}
