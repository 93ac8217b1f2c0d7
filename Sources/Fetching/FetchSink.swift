/// Where a streamed read puts its bytes as they arrive; see
/// ``RangeSource/read(_:for:into:)``.
public protocol FetchSink: Sendable {
    /// Takes `bytes`, which belong at byte `offset` of the object. Called on
    /// the source's own thread, so it must not wait for long.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws
}
