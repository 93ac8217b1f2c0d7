/// What fills a read cache from the layers below it, so that a read that
/// misses the cache is a hit that waited: the stack asks it for what the
/// cache lacks, it brings the bytes in through the cache's own
/// write-no-overwrite path (fetching them, or waiting for a fetch already
/// under way), and the read then takes them from the cache like any hit.
///
/// lazydisk's fetch scheduler is one: it turns misses into few, large range
/// requests and streams their bodies into the cache, so no read gathers the
/// bytes it waits for in memory.
public protocol ReadCacheFiller: Sendable {
    /// Returns once the cache answers every byte of `bytes` (the cache's
    /// byte offsets) without waiting. Throws ``ReadCacheRefusal`` when the
    /// cache refused the bytes (a full disk), so the stack reads them from
    /// the layers below instead; any other error fails the read.
    func bring(_ bytes: Range<UInt64>) async throws
    /// Starts bringing `gaps` in with no task and returns true; `ready` is
    /// then called once, on whichever thread brought them (perhaps before
    /// this returns), with success once the cache answers them without
    /// waiting (or when what stopped them was not this read's to report:
    /// a read of the cache then fails, and takes ``bring(_:)``), or with
    /// the error that fails the read. False, with `ready` never called,
    /// when nothing needs bringing or the filler cannot do it this way.
    func bring(_ gaps: [Range<UInt64>], then ready: @escaping @Sendable (Result<Void, any Error>) -> Void) -> Bool
}

extension ReadCacheFiller {
    /// A filler that does not say otherwise brings bytes only for a task.
    public func bring(_ gaps: [Range<UInt64>], then ready: @escaping @Sendable (Result<Void, any Error>) -> Void) -> Bool {
        false
    }
}

/// A read cache's refusal of the bytes brought to it: the read that waited
/// still gets them, from the layers below.
public struct ReadCacheRefusal: Error, CustomStringConvertible {
    public let underlying: any Error

    public init(_ underlying: any Error) {
        self.underlying = underlying
    }

    public var description: String { "the read cache refused the fetched bytes: \(underlying)" }
}
