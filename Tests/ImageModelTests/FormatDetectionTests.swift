import ImageModel
import Testing

@Suite("Telling formats apart")
struct FormatDetectionTests {
    @Test func theFirstBytesTellQcow2AndVHDXFromRaw() throws {
        let qcow2 = try FormatDetection(requested: nil, start: ImageFormat.qcow2Magic + [0, 0, 0, 3], footer: [], objectSize: 1 << 20)
        #expect(qcow2.format == .qcow2 && qcow2.contentSize == 1 << 20 && qcow2.notice == nil)
        let vhdx = try FormatDetection(requested: nil, start: ImageFormat.vhdxMagic, footer: [], objectSize: 1 << 20)
        #expect(vhdx.format == .raw && vhdx.notice?.contains("format=vhdx") == true)
        let raw = try FormatDetection(requested: nil, start: [0xEB, 0x63, 0x90], footer: Array(repeating: 0, count: 512), objectSize: 1 << 20)
        #expect(raw.format == .raw && raw.notice == nil && raw.vhdFooter == nil)
    }

    /// A format the user gives is trusted over the bytes.
    @Test func aRequestedFormatWins() throws {
        let asRaw = try FormatDetection(requested: .raw, start: ImageFormat.qcow2Magic, footer: [], objectSize: 4096)
        #expect(asRaw.format == .raw)
        #expect(throws: VHDFooterError.self) {
            try FormatDetection(requested: .vhd, start: [], footer: Array(repeating: 0, count: 512), objectSize: 4096)
        }
    }
}
