/// How the curl client connects: connection count, timeouts, TLS.
public struct HTTPClientConfiguration: Sendable {
    /// Connections kept open to the origin at most; transfers beyond wait.
    public var connections = 16
    /// Whether the user's credentials also go to the other origins a redirect leads to,
    /// as curl's `--location-trusted` does. Off: a redirect to another host,
    /// port or scheme gets none of them.
    public var sendsHeadersAcrossRedirects = false
    /// Verify the server's certificate and host name. Off only on request.
    public var verifiesTLS = true
    /// A PEM bundle of CA certificates to trust instead of the system's.
    public var caCertificatesFile: String?
    /// Time allowed to establish a connection.
    public var connectTimeout: Duration = .seconds(10)
    /// A transfer slower than ``lowSpeedLimit`` bytes a second for this long
    /// is aborted. There is no whole-transfer timeout: a large range on a slow
    /// link is fine as long as it keeps moving.
    public var lowSpeedTimeout: Duration = .seconds(20)
    /// Bytes a second below which a transfer counts as stalled.
    public var lowSpeedLimit = 1024
    /// Sent as `User-Agent`.
    public var userAgent = "lazydisk"

    public init() {}
}
