import LayeredDisk

/// The 512-byte footer at the end of a VHD (version 1) file, as Azure page
/// blobs carry it. Only fixed disks are served: their data is the file up to
/// the footer, byte for byte.
public struct VHDFooter: Sendable, Hashable {
    public static let size = 512
    static let cookie = Array("conectix".utf8)

    /// The virtual disk size the guest sees.
    public var currentSize: UInt64
    /// The footer's unique id, used as the disk id.
    public var uniqueID: DiskID

    /// Whether `bytes` (the last 512 bytes of a file) begin with the VHD cookie.
    public static func isPresent(in bytes: [UInt8]) -> Bool {
        bytes.count == size && bytes.starts(with: cookie)
    }

    /// Parses and checks a footer: cookie, checksum and disk type.
    public init(bytes: [UInt8]) throws(VHDFooterError) {
        guard Self.isPresent(in: bytes) else { throw .missingCookie }
        let stored: UInt32 = Self.bigEndian(bytes[64..<68])
        var sum: UInt32 = 0
        for (offset, byte) in bytes.enumerated() where !(64..<68).contains(offset) {
            sum &+= UInt32(byte)
        }
        guard ~sum == stored else { throw .badChecksum(stored: stored, computed: ~sum) }
        let diskType: UInt32 = Self.bigEndian(bytes[60..<64])
        guard diskType == 2 else { throw .notFixed(diskType: diskType) }
        currentSize = Self.bigEndian(bytes[48..<56])
        uniqueID = DiskID(bytes: bytes[68..<84])!
    }

    private static func bigEndian<Integer: FixedWidthInteger>(_ bytes: ArraySlice<UInt8>) -> Integer {
        bytes.reduce(0) { $0 << 8 | Integer($1) }
    }
}

/// Why the end of a file is not a usable fixed VHD footer.
public enum VHDFooterError: Error, Sendable, Hashable, CustomStringConvertible {
    case missingCookie
    case badChecksum(stored: UInt32, computed: UInt32)
    /// Dynamic (3) and differencing (4) disks need a block allocation table
    /// lazydisk does not read.
    case notFixed(diskType: UInt32)
    /// The footer claims more data than the file holds before it.
    case sizeBeyondFile(currentSize: UInt64, dataSize: UInt64)

    public var description: String {
        switch self {
        case .missingCookie:
            "no 'conectix' cookie in the last 512 bytes"
        case let .badChecksum(stored, computed):
            "VHD footer checksum is \(stored), expected \(computed)"
        case let .notFixed(diskType):
            "this is a \(diskType == 3 ? "dynamic" : diskType == 4 ? "differencing" : "type \(diskType)") VHD; lazydisk decodes fixed VHDs only: "
                + "serve its bytes with --format raw and give QEMU format=vpc on top of them"
        case let .sizeBeyondFile(currentSize, dataSize):
            "VHD footer says \(currentSize) bytes but only \(dataSize) precede it"
        }
    }
}
