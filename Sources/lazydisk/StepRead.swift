import LayeredDisk

/// Where one step of `cat` is read: into its slot, or, when it takes spans
/// and the cache holds its bytes whole, as the span of the cache's file they
/// are written from.
struct StepRead: ReadDestination {
    let slot: UnsafeMutableRawBufferPointer
    let takesFileSpans: Bool
    private(set) var span: FileSpan?

    init(into slot: UnsafeMutableRawBufferPointer, takingFileSpans: Bool) {
        self.slot = slot
        takesFileSpans = takingFileSpans
    }

    mutating func take(_ span: FileSpan) -> Bool {
        guard takesFileSpans else { return false }
        self.span = span
        return true
    }

    mutating func withUnsafeMutableBytes<Result>(_ body: (UnsafeMutableRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(slot)
    }
}
