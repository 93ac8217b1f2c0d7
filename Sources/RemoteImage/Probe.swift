import ImageModel

/// What opening an image learned about it.
struct Probe: Sendable {
    var identity: RemoteIdentity
    /// The URL that answered after redirects; reads go there.
    var target: RequestTarget
    var httpVersion: String
    var duration: Duration
    var advertisesRanges: Bool
}
