import ImageModel

/// What opening an image learned about it.
struct Probe: Sendable {
    var identity: RemoteIdentity
    /// The URL that answered after redirects; reads go there.
    var target: RequestTarget
    var httpVersion: String
    var duration: Duration
    var advertisesRanges: Bool
    /// False when the server answered a range request with the whole object.
    var servesRanges = true
    /// The object's first bytes (up to ``Exchange/leadingBytesLimit``), kept
    /// from that whole answer: all a server without ranges lets lazydisk
    /// see of the image before its one download.
    var leadingBytes: [UInt8] = []
    /// Ranges of the object read beside the probe, by range.
    var readAlongside: [Range<UInt64>: [UInt8]] = [:]
}
