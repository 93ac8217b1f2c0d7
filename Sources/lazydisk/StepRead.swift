import LayeredDisk

/// Where one step of `cat` is read: into its slot, or, when the cache holds
/// its bytes whole, as the span of the cache's file they are written from.
struct StepRead: ReadDestination {
    let slot: UnsafeMutableRawBufferPointer
    private(set) var span: FileSpan?

    init(into slot: UnsafeMutableRawBufferPointer) {
        self.slot = slot
    }

    var takesFileSpans: Bool { true }

    mutating func take(_ span: FileSpan) -> Bool {
        self.span = span
        return true
    }

    mutating func withUnsafeMutableBytes<Result>(_ body: (UnsafeMutableRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(slot)
    }
}
