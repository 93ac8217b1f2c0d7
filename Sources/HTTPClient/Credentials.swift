/// What lets a request read the image: headers (a bearer token), AWS keys
/// for libcurl to sign with, and the URL itself when the credential is in
/// it (a presigned or SAS URL). They can change while lazydisk runs: see
/// ``CredentialRefresher``.
public struct Credentials: Sendable, Equatable {
    /// Sent with every request to the image's origin.
    public var headers: [HTTPHeader]
    /// Requests are signed with AWS Signature Version 4 when set.
    public var awsSigning: AWSSigning?
    /// The URL to read instead of the one the image was opened with, when
    /// the credential is part of the URL.
    public var url: String?

    public init(headers: [HTTPHeader] = [], awsSigning: AWSSigning? = nil, url: String? = nil) {
        self.headers = headers
        self.awsSigning = awsSigning
        self.url = url
    }
}
