import ArgumentParser
import Foundation
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
    var lowSpeedTimeout = 30.0

    @Option(help: "Retries for connection errors, timeouts, 5xx and 429.")
    var retries = 5

    @Option(help: ArgumentHelp("Image format: raw or vhd (default: detect a fixed VHD footer).", valueName: "format"))
    var format: ImageFormat?

    @Flag(name: .shortAndLong, help: "Log retries and details to stderr.")
    var verbose = false

    func validate() throws {
        guard connections > 0 else { throw ValidationError("--connections must be at least 1") }
        guard retries >= 0 else { throw ValidationError("--retries must not be negative") }
        guard connectTimeout > 0, lowSpeedTimeout > 0 else { throw ValidationError("timeouts must be positive") }
    }

    /// The client configuration these options describe, reading the header
    /// file if one was given.
    func clientConfiguration() throws -> HTTPClientConfiguration {
        var configuration = HTTPClientConfiguration()
        configuration.connections = connections
        configuration.headers = try requestHeaders()
        configuration.verifiesTLS = !insecure
        configuration.caCertificatesFile = cacert
        configuration.connectTimeout = .milliseconds(Int(connectTimeout * 1000))
        configuration.lowSpeedTimeout = .milliseconds(Int(lowSpeedTimeout * 1000))
        return configuration
    }

    /// Opens the image at `url` and wraps it as the bottom layer.
    func openLayer(_ url: String) async throws -> HTTPRangeLayer {
        let client = CurlClient(configuration: try clientConfiguration())
        let image = try await RemoteImage.open(
            try ImageURL(url), client: client, retryPolicy: RetryPolicy(retries: retries), logger: logger)
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
            let text: String
            do {
                text = try String(contentsOfFile: headerFile, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read --header-file \(headerFile): \(error.localizedDescription)")
            }
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
