import Foundation
import ImageModel

/// An `s3://BUCKET/KEY` image: the HTTPS URL its requests go to, signed
/// with SigV4. With `AWS_ENDPOINT_URL` (MinIO, Ceph, R2, a test server) the
/// bucket goes in the path (`ENDPOINT/BUCKET/KEY`), as such endpoints need;
/// on AWS it goes in the host name, except for names with dots, which TLS
/// certificates do not cover there.
struct S3Location {
    let bucket: String
    let key: String

    static let scheme = "s3://"

    init(_ text: String) throws {
        let path = text.dropFirst(Self.scheme.count)
        guard let slash = path.firstIndex(of: "/"), slash != path.startIndex, path.index(after: slash) != path.endIndex else {
            throw CommandError("an S3 URL is s3://BUCKET/KEY")
        }
        bucket = String(path[..<slash])
        key = String(path[path.index(after: slash)...])
    }

    /// The URL of the object for `region`, at `endpoint` if one is set.
    func httpsURL(region: String, environment: [String: String]) throws -> ImageURL {
        let encodedKey = key.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? String($0) }
            .joined(separator: "/")
        if let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"].lazy.compactMap({ environment[$0] }).first(where: { !$0.isEmpty }) {
            let base = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
            return try ImageURL("\(base)/\(bucket)/\(encodedKey)")
        }
        if bucket.contains(".") {
            return try ImageURL("https://s3.\(region).amazonaws.com/\(bucket)/\(encodedKey)")
        }
        return try ImageURL("https://\(bucket).s3.\(region).amazonaws.com/\(encodedKey)")
    }

    /// The characters SigV4 leaves unencoded in a path segment.
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
