/// What an image is, told from its first and last bytes, the way lazydisk
/// tells formats apart wherever the bytes come from: the qcow2 magic at the
/// start, a valid fixed-VHD footer at the end, anything else raw.
public struct FormatDetection: Sendable {
    public let format: ImageFormat
    /// Bytes of the object that hold the disk: all of it but a VHD's footer.
    public let contentSize: UInt64
    /// The VHD footer, for a VHD.
    public let vhdFooter: VHDFooter?
    /// For an image served raw in a format lazydisk does not decode: what
    /// the user should do about it.
    public let notice: String?

    /// - Parameters:
    ///   - requested: the format the user gave, which is trusted; nil to detect.
    ///   - start: the object's first bytes (up to 512; empty when not read).
    ///   - footer: its last 512 bytes (empty when not read).
    ///   - objectSize: the object's size.
    /// - Throws: ``VHDFooterError`` for a VHD whose footer is damaged or
    ///   names more bytes than the object holds.
    public init(requested: ImageFormat?, start: [UInt8], footer: [UInt8], objectSize: UInt64) throws {
        if requested == .qcow2 || (requested == nil && start.starts(with: ImageFormat.qcow2Magic)) {
            self.init(format: .qcow2, contentSize: objectSize)
            return
        }
        guard requested == .vhd || (requested == nil && VHDFooter.isPresent(in: footer)) else {
            let notice = requested == nil && start.starts(with: ImageFormat.vhdxMagic)
                ? "this is a VHDX image, which lazydisk serves as the bytes it is: give QEMU format=vhdx on top of it (and --format raw here)"
                : nil
            self.init(format: .raw, contentSize: objectSize, notice: notice)
            return
        }
        let parsed = try VHDFooter(bytes: footer)
        let dataSize = objectSize - UInt64(VHDFooter.size)
        guard parsed.currentSize <= dataSize else {
            throw VHDFooterError.sizeBeyondFile(currentSize: parsed.currentSize, dataSize: dataSize)
        }
        self.init(format: .vhd, contentSize: parsed.currentSize, vhdFooter: parsed)
    }

    private init(format: ImageFormat, contentSize: UInt64, vhdFooter: VHDFooter? = nil, notice: String? = nil) {
        self.format = format
        self.contentSize = contentSize
        self.vhdFooter = vhdFooter
        self.notice = notice
    }
}
