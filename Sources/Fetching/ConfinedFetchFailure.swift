/// A failure of part of a fetch: the source gave wrong bytes for
/// ``failedBytes`` and nothing else is wrong. A read that waited for the
/// fetch and wants none of those bytes asks for its own again instead of
/// failing with it.
public protocol ConfinedFetchFailure: Error {
    /// The bytes of the object that could not be had.
    var failedBytes: Range<UInt64> { get }
}
