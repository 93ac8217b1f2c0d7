import ArgumentParser
import Fetching
import HTTPClient
import ImageModel
import Logging
import RemoteImage
import Verity

/// The options every command that reads an image takes, so `cat` and `info`
/// see exactly what `serve` would.
struct RemoteOptions: ParsableArguments {
    @Option(help: "Connections to the server at most.")
    var connections = 16

    @Option(name: .customLong("header"), help: ArgumentHelp("Extra request header, repeatable.", valueName: "name: value"))
    var headers: [String] = []

    @Option(help: ArgumentHelp(
        "Read extra headers, one 'Name: value' a line, from a file (keeps tokens out of ps); read again when it changes.",
        valueName: "file"))
    var headerFile: String?

    @Option(help: ArgumentHelp(
        "Run this shell command for headers ('Name: value' lines: a bearer token), at start and again when the server refuses them.",
        valueName: "command"))
    var headerCommand: String?

    @Option(help: ArgumentHelp(
        "Also renew credentials (--url-command, --header-command, --header-file, AWS keys) every this many seconds.",
        valueName: "seconds"))
    var refreshInterval: Double?

    @Flag(help: "Sign requests with AWS SigV4 (an S3-compatible https URL); keys as for s3:// URLs.")
    var awsSigv4 = false

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
        "Seconds a request and its retries may take (a credential command too): no retry starts that could not fail within it.",
        valueName: "seconds"))
    var retryMaxTime = 60.0

    @Flag(help: "Send --header and --header-file headers to the hosts redirects lead to, too (curl's --location-trusted).")
    var locationTrusted = false

    @Option(help: ArgumentHelp("Image format: raw, vhd or qcow2 (default: detect qcow2's magic or a fixed VHD footer).", valueName: "format"))
    var format: ImageFormat?

    @Option(help: ArgumentHelp(
        "Verify every byte against this dm-verity root hash (hex, as veritysetup prints it); needs --hash-tree.",
        valueName: "hex"))
    var rootHash: String?

    @Option(help: ArgumentHelp(
        "The image's dm-verity hash tree (made by veritysetup format or lazydisk hash-tree): a file or an http(s) URL.",
        valueName: "url|file"))
    var hashTree: String?

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
        for (name, seconds) in [("--connect-timeout", connectTimeout), ("--low-speed-timeout", lowSpeedTimeout), ("--retry-max-time", retryMaxTime),
                                ("--refresh-interval", refreshInterval ?? 1)]
        where !Self.secondsRange.contains(seconds) {
            throw ValidationError("\(name) must be a number of seconds from 0.001 to 86400 (a day)")
        }
        guard (rootHash == nil) == (hashTree == nil) else {
            throw ValidationError("--root-hash and --hash-tree go together: the tree says what each block must hash to, the root hash which tree to trust")
        }
        if let rootHash, [UInt8](hexString: rootHash)?.count != HashTreeGeometry.digestSize {
            throw ValidationError("--root-hash must be the 64 hex digits of a SHA-256 root hash, as veritysetup format prints it")
        }
    }

    /// The client configuration these options describe.
    func clientConfiguration() -> HTTPClientConfiguration {
        var configuration = HTTPClientConfiguration()
        configuration.connections = connections
        configuration.verifiesTLS = !insecure
        configuration.caCertificatesFile = cacert
        configuration.connectTimeout = .seconds(connectTimeout)
        configuration.lowSpeedTimeout = .seconds(lowSpeedTimeout)
        configuration.sendsHeadersAcrossRedirects = locationTrusted
        return configuration
    }

    /// Opens the image and wraps it as the bottom layer; its credentials
    /// are renewed as these options say.
    func openLayer(_ source: ImageSource) async throws -> HTTPRangeLayer {
        let image = try await openImage(source, reading: HTTPRangeLayer.edgesToDetect(format, verified: hashTree != nil))
        if !image.servesRanges {
            printWarning(
                "\(image.url): the server ignores range requests; lazydisk reads the image by one download, in order, "
                    + "into the cache (a read waits until the download reaches its bytes)")
        }
        return try await HTTPRangeLayer.open(image, format: format, hashTree: try await openHashTree(of: source, size: image.identity.size))
    }

    /// Opens the image at `source`'s URL, reading its `edges` beside its
    /// probe; its credentials are renewed as these options say.
    func openImage(
        _ source: ImageSource, reading edges: EdgeReads = EdgeReads()
    ) async throws -> RemoteImage {
        let credentials = try await credentials(for: source)
        if credentials.isRefreshable && (refreshInterval != nil || headerFile != nil) {
            CredentialRenewal.start(credentials, every: refreshInterval.map { .seconds($0) }, watching: headerFile)
        }
        return try await RemoteImage.open(
            source.url, client: CurlClient(configuration: clientConfiguration()), credentials: credentials,
            retryPolicy: RetryPolicy(retries: retries, maximumTime: .seconds(retryMaxTime)), logger: logger, reading: edges)
    }

    /// The hash tree `--hash-tree` names, for the image `source` names, of
    /// `size` bytes; nil without one. Throws when the tree is malformed or
    /// covers another number of bytes than the image has.
    func openHashTree(of source: ImageSource, size: UInt64) async throws -> HashTree? {
        guard let location = hashTree, let rootHash = rootHash.flatMap([UInt8].init(hexString:)) else { return nil }
        let isURL = location.hasPrefix("http://") || location.hasPrefix("https://")
        let named = isURL ? ImageURL.redact(location) : location
        do {
            let treeSource: any RangeSource
            let treeSize: UInt64
            if isURL {
                let remote = try await openCompanion(try ImageURL(location), of: source)
                guard remote.servesRanges else {
                    throw CommandError("its server sends the whole object to a range request; give the tree as a file")
                }
                (treeSource, treeSize) = (remote, remote.identity.size)
            } else {
                let file = try LocalFileSource(path: location, option: "--hash-tree")
                (treeSource, treeSize) = (file, file.size)
            }
            let tree = try await HashTree.open(source: treeSource, size: treeSize, rootHash: rootHash)
            guard tree.geometry.dataBytes == size else {
                throw HashTreeError.mismatchedImage(
                    "it covers \(tree.geometry.dataBytes) bytes (\(tree.geometry.dataBlocks) blocks of \(tree.geometry.dataBlockSize)); the image has \(size)")
            }
            return tree
        } catch {
            throw CommandError("--hash-tree \(named): \(error)")
        }
    }

    /// Opens a file published beside the image (a boot trace, a hash tree):
    /// with the image's credentials only from the image's own origin, never
    /// where a `--url-command` makes the URL itself the secret.
    func openCompanion(_ url: ImageURL, of image: ImageSource) async throws -> RemoteImage {
        let sameOrigin = image.urlCommand == nil && Origin(url.absoluteString) == Origin(image.url.absoluteString)
        let credentials: CredentialRefresher = sameOrigin ? try await credentials(for: image) : .fixed()
        return try await RemoteImage.open(
            url, client: CurlClient(configuration: clientConfiguration()), credentials: credentials,
            retryPolicy: RetryPolicy(retries: retries, maximumTime: .seconds(retryMaxTime)), logger: logger)
    }

    /// The credentials for `source`'s requests, loaded: fixed when nothing
    /// about them can change.
    func credentials(for source: ImageSource) async throws -> CredentialRefresher {
        let commandLine = CommandLineCredentials(
            headers: try HeaderLines.parse(headers, from: "--header"), headerFile: headerFile, headerCommand: headerCommand,
            urlCommand: source.urlCommand, aws: source.signsForAWS || awsSigv4 ? AWSCredentialChain() : nil,
            commandTimeLimit: commandTimeLimit)
        guard commandLine.changes else {
            return .fixed(try await commandLine.load())
        }
        let known = source.urlCommand == nil ? nil : source.url
        return CredentialRefresher(source: commandLine, initial: try await commandLine.load(knownURL: known))
    }

    /// How long a credential command may run: no longer than a request
    /// and its retries may take.
    var commandTimeLimit: Duration {
        .seconds(retryMaxTime)
    }

    var logger: Logger {
        var logger = Logger(label: "lazydisk") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .debug : .error
        return logger
    }
}

extension ImageFormat: ExpressibleByArgument {}
