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
