import FoundationEssentials

/// The URL of a remote image, kept whole for requests and shown only redacted.
///
/// Presigned S3 URLs and Azure SAS URLs carry their credentials in the query
/// string, and a URL may embed a password; neither may reach a log line, an
/// error or status output. ``description`` is the redacted form, so string
/// interpolation is safe by default.
public struct ImageURL: Sendable, Hashable, CustomStringConvertible {
    /// The URL as given, query and credentials included: for requests only.
    public let absoluteString: String
    /// The URL without query, fragment or credentials; identifies the image
    /// (the cache key) without any secret.
    public let withoutQuery: String
    /// Whether the scheme is https.
    public let isHTTPS: Bool
    /// The query, for telling objects apart (hashed into a cache key); it may
    /// be a signature, so it is never shown.
    public let query: String?

    /// The longest URL accepted: presigned and SAS URLs run to a few KiB;
    /// libcurl refuses strings over 8 MB, and servers far less.
    public static let longest = 64 << 10

    /// Accepts absolute http and https URLs with a host, of at most
    /// ``longest`` bytes.
    public init(_ string: String) throws(InvalidImageURL) {
        guard string.utf8.count <= Self.longest else {
            throw InvalidImageURL(
                redacted: String(Self.redact(String(string.prefix(64)))),
                reason: "it is \(string.utf8.count) bytes long; lazydisk takes URLs of at most \(Self.longest >> 10) KiB")
        }
        guard let components = URLComponents(string: string),
              let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = components.host, !host.isEmpty
        else {
            throw InvalidImageURL(redacted: Self.redact(string))
        }
        absoluteString = string
        isHTTPS = scheme == "https"
        query = components.percentEncodedQuery
        var bare = components
        bare.query = nil
        bare.fragment = nil
        bare.user = nil
        bare.password = nil
        withoutQuery = bare.string ?? Self.redact(string)
    }

    /// The URL with its query shown as `?…` and without credentials.
    public var description: String {
        query != nil ? withoutQuery + "?…" : withoutQuery
    }

    /// Redacts any URL-like text (an effective URL curl reports, bad input):
    /// the query becomes `?…` and user information is dropped.
    public static func redact(_ text: String) -> String {
        var redacted = text
        if let query = redacted.firstIndex(of: "?") {
            redacted = String(redacted[..<query]) + "?…"
        }
        if let scheme = redacted.firstRange(of: "://"), let at = redacted[scheme.upperBound...].firstIndex(of: "@") {
            redacted.removeSubrange(scheme.upperBound...at)
        }
        return redacted
    }
}

/// Text that is not an absolute http(s) URL with a host, shown redacted.
public struct InvalidImageURL: Error, Sendable, Hashable, CustomStringConvertible {
    public var redacted: String
    /// What is wrong, when more than not being an http(s) URL.
    public var reason: String?

    public init(redacted: String, reason: String? = nil) {
        self.redacted = redacted
        self.reason = reason
    }

    public var description: String {
        reason.map { "not a URL lazydisk takes (\($0)): \(redacted)…" } ?? "not an http(s) URL: \(redacted)"
    }
}
