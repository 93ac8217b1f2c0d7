/// Where fetched bytes come from: the HTTP layer's remote image, or an
/// in-memory object in tests.
public protocol RangeSource: Sendable {
    /// The bytes `range` of the object, which lies within it, fetched for
    /// `purpose` (which the source may count by). Throws when they cannot be
    /// had (the source decides what to retry first).
    func read(_ range: Range<UInt64>, for purpose: FetchPurpose) async throws -> [UInt8]

    /// The same bytes, handed to `sink` piece by piece as they arrive rather
    /// than gathered: a request of any size then holds no more memory than
    /// the piece at hand. Returns once every byte of `range` went to `sink`.
    /// A piece may be handed over again when a request is retried (with the
    /// same bytes); an error `sink` throws ends the read with that error and
    /// is not retried, but for ``FetchSinkIsFull`` where the source
    /// ``holdsReadsForFullSinks``.
    func read(_ range: Range<UInt64>, for purpose: FetchPurpose, into sink: any FetchSink) async throws

    /// Whether a streamed read whose sink throws ``FetchSinkIsFull`` keeps
    /// the bytes and waits for ``resumeHeldReads()`` instead of failing.
    var holdsReadsForFullSinks: Bool { get }

    /// Offers held bytes to their sinks again. Safe from any thread, and
    /// harmless when nothing is held.
    func resumeHeldReads()
}

extension RangeSource {
    /// A sink's refusal fails the read, unless the source says otherwise.
    public var holdsReadsForFullSinks: Bool { false }

    public func resumeHeldReads() {}

    /// A source that cannot stream gathers the bytes first.
    public func read(_ range: Range<UInt64>, for purpose: FetchPurpose, into sink: any FetchSink) async throws {
        let bytes = try await read(range, for: purpose)
        try bytes.withUnsafeBytes { try sink.write($0, at: range.lowerBound) }
    }
}
