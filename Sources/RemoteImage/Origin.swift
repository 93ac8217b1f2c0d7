import FoundationEssentials
import ImageModel

/// Scheme, host and port of a URL: the unit credentials are given for.
///
/// A user's `--header`s (a bearer token, a cookie, an API key) go only to the
/// origin of the URL they were given with; a redirect to another host, port
/// or scheme gets none of them unless the user trusts redirects.
public struct Origin: Hashable, Sendable {
    public var scheme: String
    public var host: String
    public var port: Int

    /// Nil for text that is not an absolute http(s) URL with a host.
    public init?(_ url: String) {
        guard let components = URLComponents(string: url),
              let scheme = components.scheme?.lowercased(), let defaultPort = Self.defaultPorts[scheme],
              let host = components.host?.lowercased(), !host.isEmpty
        else { return nil }
        self.scheme = scheme
        self.host = host
        port = components.port ?? defaultPort
    }

    private static let defaultPorts = ["http": 80, "https": 443]
}

extension ImageURL {
    /// A redirect's `Location` (absolute, or relative to `base`) as an
    /// absolute URL; nil when it is no URL.
    static func resolve(_ location: String, against base: String) -> String? {
        URL(string: location, relativeTo: URL(string: base))?.absoluteURL.absoluteString
    }
}
