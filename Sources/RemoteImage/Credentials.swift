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

/// AWS credentials and where to sign for, as libcurl's `CURLOPT_AWS_SIGV4`
/// takes them.
public struct AWSSigning: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    public var region: String
    /// Where the keys came from ("environment", "profile default in
    /// ~/.aws/credentials"), for `info`: never the keys.
    public var source: String

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String?, region: String, source: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.region = region
        self.source = source
    }

    /// `CURLOPT_AWS_SIGV4`'s provider string for S3 in the region.
    var curlProvider: String { "aws:amz:\(region):s3" }
}
