import LayeredDisk
import Testing

/// Request ranges at the edges of 32 and 64 bits: a
/// range either lies on the disk or is an error, never a trap.
@Suite("Geometry at the edges of its integers")
struct SectorGeometryEdgeTests {
    static let edges: [UInt64] = [0, 1, 2, (1 << 32) - 1, 1 << 32, (1 << 32) + 1, (1 << 63) - 1, 1 << 63, .max - 1, .max]

    @Test func requestsLieOnTheDiskOrAreRefused() {
        for sectorCount in Self.edges {
            let geometry = SectorGeometry(sectorSize: 512, sectorCount: sectorCount)
            for sector in Self.edges {
                for count in Self.edges {
                    let (end, overflow) = sector.addingReportingOverflow(count)
                    do {
                        let range = try geometry.sectors(at: sector, count: count)
                        #expect(!overflow && end <= sectorCount && range == sector..<end)
                    } catch {
                        #expect(overflow || end > sectorCount)
                        #expect(error == .outOfRange(sector: sector, count: count, sectorCount: sectorCount))
                    }
                }
            }
            #expect(geometry.byteCount == (sectorCount <= UInt64.max / 512 ? sectorCount * 512 : nil))
        }
    }

    @Test func byteCountsThatAreNotWholeSectorsOrNegativeAreRefused() {
        let geometry = SectorGeometry(sectorSize: 512, sectorCount: 8)
        for byteCount in [-1, Int.min, 1, 511, 513, Int.max] {
            #expect(throws: DiskError.self) { try geometry.sectors(at: 0, byteCount: byteCount) }
        }
    }
}
