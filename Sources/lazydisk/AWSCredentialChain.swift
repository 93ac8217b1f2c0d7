import FoundationEssentials
import HTTPClient

/// AWS keys and region from where the AWS CLI and SDKs look, in their
/// order, read again on every load (so rotated keys are picked up when the
/// old ones are refused): `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN`; else the profile (`AWS_PROFILE`, or `default`) in
/// `AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`. The region is
/// `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's in `AWS_CONFIG_FILE` or
/// `~/.aws/config`, else us-east-1.
struct AWSCredentialChain: Sendable {
    var environment: [String: String] = ProcessInfo.processInfo.environment

    /// The region requests are signed for, as configured (unchecked).
    var region: String {
        variable("AWS_REGION") ?? variable("AWS_DEFAULT_REGION")
            ?? configFile.flatMap { INIFile.values(in: $0, section: profile == "default" ? "default" : "profile \(profile)")["region"] }
            ?? "us-east-1"
    }

    /// The region, if it is a region's name: it goes into host names and
    /// into libcurl's signing parameters, where another character could
    /// change either.
    func checkedRegion() throws -> String {
        guard S3Location.isRegionName(region) else {
            throw CommandError("'\(region)' is not an AWS region name (lowercase letters, digits and hyphens, such as eu-west-1)")
        }
        return region
    }

    func load() throws -> AWSSigning {
        let region = try checkedRegion()
        if let key = variable("AWS_ACCESS_KEY_ID"), let secret = variable("AWS_SECRET_ACCESS_KEY") {
            return AWSSigning(
                accessKeyID: key, secretAccessKey: secret, sessionToken: variable("AWS_SESSION_TOKEN"),
                region: region, source: "environment (AWS_ACCESS_KEY_ID)")
        }
        let path = variable("AWS_SHARED_CREDENTIALS_FILE") ?? "\(home)/.aws/credentials"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CommandError("no AWS credentials: AWS_ACCESS_KEY_ID is not set and \(path) cannot be read")
        }
        let values = INIFile.values(in: text, section: profile)
        guard let key = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] else {
            throw CommandError("no AWS credentials for profile \(profile) in \(path)")
        }
        return AWSSigning(
            accessKeyID: key, secretAccessKey: secret, sessionToken: values["aws_session_token"],
            region: region, source: "profile \(profile) in \(path)")
    }

    private var profile: String {
        variable("AWS_PROFILE") ?? "default"
    }

    private var home: String {
        variable("HOME") ?? FileManager.default.homeDirectoryForCurrentUser.path
    }

    private var configFile: String? {
        try? String(contentsOfFile: variable("AWS_CONFIG_FILE") ?? "\(home)/.aws/config", encoding: .utf8)
    }

    /// An environment variable, unless unset or empty (as the AWS tools
    /// treat an empty one).
    private func variable(_ name: String) -> String? {
        environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }
}
