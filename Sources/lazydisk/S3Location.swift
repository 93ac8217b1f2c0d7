import ImageModel

/// An `s3://BUCKET/KEY` image: the HTTPS URL its requests go to, signed
/// with SigV4. With `AWS_ENDPOINT_URL` (MinIO, Ceph, R2, a test server) the
/// bucket goes in the path (`ENDPOINT/BUCKET/KEY`), as such endpoints need;
/// on AWS it goes in the host name, except for names with dots, which TLS
/// certificates do not cover there.
///
/// The URL carries signed credentials, so nothing in the bucket, the key or
/// the region may change where it goes: the bucket and the region must
/// follow S3's naming rules (no `:`, `@`, `#`, `/`), and the key is
/// percent-encoded whole, its `.` and `..` segments included, so it stays
/// the object's name rather than a path that curl would flatten after
/// signing.
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
        guard Self.isBucketName(bucket) else {
            throw CommandError(
                "'\(bucket)' is not an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit)")
        }
    }

    /// The URL of the object in `region` (a checked name), at `endpoint`
    /// if one is set.
    func httpsURL(region: String, environment: [String: String]) throws -> ImageURL {
        let encodedKey = key.split(separator: "/", omittingEmptySubsequences: false)
            .map(Self.encodedSegment)
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

    /// A key's path segment as SigV4 encodes it; `.` and `..` with their
    /// dots encoded too, so no URL parser treats them as steps up the path.
    private static func encodedSegment(_ segment: Substring) -> String {
        if segment == "." || segment == ".." {
            return String(repeating: "%2E", count: segment.count)
        }
        var encoded = ""
        for byte in segment.utf8 {
            if isUnreserved(byte) {
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                encoded += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return encoded
    }

    /// S3's rules for bucket names (general purpose buckets): 3 to 63
    /// characters of lowercase letters, digits, dots and hyphens, a letter
    /// or digit at each end, no two dots together, not an IP address.
    static func isBucketName(_ name: String) -> Bool {
        let characters = Array(name.utf8)
        guard (3...63).contains(characters.count), let first = characters.first, let last = characters.last,
              isLowercaseAlphanumeric(first), isLowercaseAlphanumeric(last),
              characters.allSatisfy({ isLowercaseAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }),
              !name.contains("..")
        else { return false }
        let parts = name.split(separator: ".")
        return !(parts.count == 4 && parts.allSatisfy { UInt8($0) != nil })
    }

    /// AWS region names (eu-west-1, us-gov-east-1) and the names
    /// S3-compatible stores use: lowercase letters, digits and hyphens.
    static func isRegionName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy { isLowercaseAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    private static func isLowercaseAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// The bytes SigV4 leaves unencoded in a path segment (RFC 3986's
    /// unreserved characters); every other UTF-8 byte becomes `%XX`.
    private static func isUnreserved(_ byte: UInt8) -> Bool {
        isLowercaseAlphanumeric(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || "-._~".utf8.contains(byte)
    }
}
