/// How the bytes of a remote object map to disk sectors.
public enum ImageFormat: String, Sendable, CaseIterable {
    /// The object is the disk, byte for byte.
    case raw
    /// A fixed VHD: the disk followed by a 512-byte footer.
    case vhd
}
