import ImageModel
import LayeredDisk
import RemoteImage
import Testing

/// Builds fixed-VHD footers the way the spec lays them out.
enum VHDBuilder {
    static let uniqueID: [UInt8] = Array(0xA0...0xAF)

    static func footer(currentSize: UInt64, diskType: UInt32 = 2, corruptChecksum: Bool = false) -> [UInt8] {
        var footer = [UInt8](repeating: 0, count: 512)
        footer.replaceSubrange(0..<8, with: Array("conectix".utf8))
        put(UInt32(2), at: 8, in: &footer)
        put(UInt32(0x0001_0000), at: 12, in: &footer)
        put(UInt64.max, at: 16, in: &footer)
        put(currentSize, at: 40, in: &footer)
        put(currentSize, at: 48, in: &footer)
        put(diskType, at: 60, in: &footer)
        footer.replaceSubrange(68..<84, with: uniqueID)
        let sum = footer.reduce(UInt32(0)) { $0 &+ UInt32($1) }
        put(corruptChecksum ? ~sum &+ 1 : ~sum, at: 64, in: &footer)
        return footer
    }

    private static func put<Integer: FixedWidthInteger>(_ value: Integer, at offset: Int, in bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.replaceSubrange(offset..<offset + $0.count, with: $0) }
    }
}

@Suite("VHD footer")
struct VHDFooterTests {
    @Test func fixedFooterParses() throws {
        let footer = try VHDFooter(bytes: VHDBuilder.footer(currentSize: 1 << 20))
        #expect(footer.currentSize == 1 << 20)
        #expect(footer.uniqueID == DiskID(bytes: VHDBuilder.uniqueID))
    }

    @Test func badChecksumIsRefused() {
        #expect(throws: VHDFooterError.self) { try VHDFooter(bytes: VHDBuilder.footer(currentSize: 4096, corruptChecksum: true)) }
    }

    @Test func dynamicDiskIsRefused() {
        #expect(throws: VHDFooterError.notFixed(diskType: 3)) { try VHDFooter(bytes: VHDBuilder.footer(currentSize: 4096, diskType: 3)) }
    }

    @Test func missingCookie() {
        #expect(throws: VHDFooterError.missingCookie) { try VHDFooter(bytes: [UInt8](repeating: 0, count: 512)) }
        #expect(!VHDFooter.isPresent(in: [UInt8](repeating: 0, count: 100)))
    }
}
