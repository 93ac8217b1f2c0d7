import ArgumentParser
import Foundation
import ImageModel
import Logging
import RemoteImage

/// The options every command that reads an image takes, so `cat` and `info`
/// see exactly what `serve` would.
struct RemoteOptions: ParsableArguments {
    @Option(help: "Connections to the server at most.")
    var connections = 8

    @Option(name: .customLong("header"), help: ArgumentHelp("Extra request header, repeatable.", valueName: "name: value"))
    var headers: [String] = []

    @Option(help: ArgumentHelp("Read extra headers, one 'Name: value' a line, from a file (keeps tokens out of ps).", valueName: "file"))
    var headerFile: String?

    @Option(help: ArgumentHelp("Trust the CA certificates in this PEM file.", valueName: "file"))
    var cacert: String?

    @Flag(help: "Do not verify the server's TLS certificate.")
    var insecure = false

    @Option(help: ArgumentHelp("Seconds allowed to connect.", valueName: "seconds"))
    var connectTimeout = 10.0

    @Option(help: ArgumentHelp("Abort a transfer that moves under 1 KiB/s for this many seconds.", valueName: "seconds"))
    var lowSpeedTimeout = 20.0

    @Option(help: "Retries for connection errors, timeouts, 5xx and 429.")
    var retries = 5

    @Option(help: ArgumentHelp(
        "Seconds a request and its retries may take: no retry starts that could not fail within it.", valueName: "seconds"))
    var retryMaxTime = 60.0

    @Flag(help: "Send --header and --header-file headers to the hosts redirects lead to, too (curl's --location-trusted).")
    var locationTrusted = false

    @Option(help: ArgumentHelp("Image format: raw or vhd (default: detect a fixed VHD footer).", valueName: "format"))
    var format: ImageFormat?

    @Flag(name: .shortAndLong, help: "Log retries and details to stderr.")
    var verbose = false

    /// Bounds that keep every count and duration far from overflow.
    static let connectionRange = 1...1024
    static let retryRange = 0...1000
    static let secondsRange = 0.001...86400.0

    func validate() throws {
        guard Self.connectionRange.contains(connections) else {
            throw ValidationError("--connections must be between 1 and \(Self.connectionRange.upperBound)")
        }
        guard Self.retryRange.contains(retries) else {
            throw ValidationError("--retries must be between 0 and \(Self.retryRange.upperBound)")
        }
        for (name, seconds) in [("--connect-timeout", connectTimeout), ("--low-speed-timeout", lowSpeedTimeout), ("--retry-max-time", retryMaxTime)]
        where !Self.secondsRange.contains(seconds) {
            throw ValidationError("\(name) must be a number of seconds from 0.001 to 86400 (a day)")
        }
    }

    /// The client configuration these options describe, reading the header
    /// file if one was given.
    func clientConfiguration() throws -> HTTPClientConfiguration {
        var configuration = HTTPClientConfiguration()
        configuration.connections = connections
        configuration.headers = try requestHeaders()
        configuration.verifiesTLS = !insecure
        configuration.caCertificatesFile = cacert
        configuration.connectTimeout = .seconds(connectTimeout)
        configuration.lowSpeedTimeout = .seconds(lowSpeedTimeout)
        configuration.sendsHeadersAcrossRedirects = locationTrusted
        return configuration
    }

    /// Opens the image at `url` and wraps it as the bottom layer.
    func openLayer(_ url: ImageURL) async throws -> HTTPRangeLayer {
        let client = CurlClient(configuration: try clientConfiguration())
        let image = try await RemoteImage.open(
            url, client: client, retryPolicy: RetryPolicy(retries: retries, maximumTime: .seconds(retryMaxTime)), logger: logger)
        return try await HTTPRangeLayer.open(image, format: format)
    }

    var logger: Logger {
        var logger = Logger(label: "lazydisk") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .debug : .error
        return logger
    }

    private func requestHeaders() throws -> [HTTPHeader] {
        var lines = headers
        if let headerFile {
            let text = try readOptionFile(headerFile, option: "--header-file")
            lines += text.split(whereSeparator: \.isNewline).map(String.init).filter {
                !$0.trimmingCharacters(in: .whitespaces).isEmpty && !$0.hasPrefix("#")
            }
        }
        return try lines.enumerated().map { index, line in
            // Only the position is named: the line may hold a token.
            guard let header = HTTPHeader(line: line) else {
                throw ValidationError("header \(index + 1) (from --header, then --header-file) is not of the form 'Name: value'")
            }
            return header
        }
    }
}

extension ImageFormat: ExpressibleByArgument {}
