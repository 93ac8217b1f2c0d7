/// What a device promises about sectors after an unmap (TRIM, discard).
public enum UnmapBehavior: Sendable, Hashable {
    /// Unmapped sectors read back as zeros.
    case zeroes
    /// Unmapped sectors may read back as anything, including their old contents.
    case unspecified
    /// Unmap does nothing; callers need not send it.
    case ignored
}
