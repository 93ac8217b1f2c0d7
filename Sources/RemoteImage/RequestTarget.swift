import HTTPClient
import ImageModel

/// A URL that requests for an image go to, and whether the user's headers
/// go with them: decided once for each URL (opening, each redirect, the
/// pinned URL), not parsed again for every request.
struct RequestTarget: Sendable, Equatable {
    let url: String
    /// Only to the origin the headers were given for, unless the user
    /// trusts redirects (see ``HTTPClientConfiguration/sendsHeadersAcrossRedirects``).
    let carriesCredentials: Bool

    init(_ url: String, for image: ImageURL, trustingRedirects: Bool) {
        self.url = url
        carriesCredentials = trustingRedirects || Origin(url) == Origin(image.absoluteString)
    }

    /// A request of `method` to this target.
    func request(
        _ method: HTTPRequest.Method, byteRange: RequestedBytes? = nil, headers: [HTTPHeader] = []
    ) -> HTTPRequest {
        HTTPRequest(method: method, url: url, byteRange: byteRange, headers: headers, carriesCredentials: carriesCredentials)
    }
}
