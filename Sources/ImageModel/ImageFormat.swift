/// How the bytes of a remote object map to disk sectors.
public enum ImageFormat: String, Sendable, CaseIterable {
    /// The object is the disk, byte for byte.
    case raw
    /// A fixed VHD: the disk followed by a 512-byte footer.
    case vhd
    /// A qcow2 image: the object is the qcow2 file, which the cache keeps as
    /// it is and a decoder above it turns into the disk.
    case qcow2

    /// The first bytes of a qcow2 file: "QFI\xfb".
    public static let qcow2Magic: [UInt8] = [0x51, 0x46, 0x49, 0xFB]
    /// The first bytes of a VHDX file.
    public static let vhdxMagic = Array("vhdxfile".utf8)
}
