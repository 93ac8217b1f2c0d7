import ArgumentParser
import Foundation
import ImageModel
import RemoteImage

/// The image's URL, given as the argument, or kept out of `ps` in a file
/// (`--url-file`) or the environment (`LAZYDISK_URL`): presigned signatures,
/// SAS tokens and user information are secrets.
struct ImageArgument: ParsableArguments {
    static let environmentVariable = "LAZYDISK_URL"

    @Argument(help: ArgumentHelp(
        "The image's http(s) URL (or --url-file, or $LAZYDISK_URL, to keep a signed URL out of ps).", valueName: "url"))
    var url: String?

    @Option(help: ArgumentHelp("Read the image's URL from the first line of this file.", valueName: "file"))
    var urlFile: String?

    func validate() throws {
        if url != nil && urlFile != nil {
            throw ValidationError("give the URL as an argument or with --url-file, not both")
        }
    }

    /// The URL from the argument, else the file, else `LAZYDISK_URL`.
    func imageURL(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ImageURL {
        if let url {
            return try ImageURL(url)
        }
        if let urlFile {
            guard let line = try readOptionFile(urlFile, option: "--url-file").split(whereSeparator: \.isNewline).first else {
                throw CommandError("--url-file \(urlFile) is empty")
            }
            return try ImageURL(line.trimmingCharacters(in: .whitespaces))
        }
        if let url = environment[Self.environmentVariable], !url.isEmpty {
            return try ImageURL(url)
        }
        throw CommandError("no image URL: give it as an argument, with --url-file, or in \(Self.environmentVariable)")
    }
}
