/// Where fetched bytes come from: the HTTP layer's remote image, or an
/// in-memory object in tests.
public protocol RangeSource: Sendable {
    /// The bytes `range` of the object, which lies within it, fetched for
    /// `purpose` (which the source may count by). Throws when they cannot be
    /// had (the source decides what to retry first).
    func read(_ range: Range<UInt64>, for purpose: FetchPurpose) async throws -> [UInt8]
}
