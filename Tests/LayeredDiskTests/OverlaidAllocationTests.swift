import LayeredDisk
import Testing

/// What a RAM overlay holds is data in an allocation map, whatever the disk
/// below says of those bytes.
@Suite("Allocation under an overlay")
struct OverlaidAllocationTests {
    struct Below: AllocationMap {
        func allocation(of range: Range<UInt64>) async throws -> [AllocationExtent] {
            let half = range.lowerBound + UInt64(range.count / 2)
            return [
                AllocationExtent(length: half - range.lowerBound, isHole: true, isZero: true),
                AllocationExtent(length: range.upperBound - half, isHole: false, isZero: false),
            ]
        }
    }

    @Test func writesIntoHolesAreData() async throws {
        let overlay = RAMLayer(sectorCount: 2048)
        try await overlay.write(ArraySlice(repeating: 7, count: 8 * 512), at: 100, fua: false)
        try await overlay.write(ArraySlice(repeating: 7, count: 512), at: 1500, fua: false)
        let map = OverlaidAllocation(overlay: overlay, below: Below())
        let extents = try await map.allocation(of: 0..<(2048 * 512))
        #expect(extents == [
            AllocationExtent(length: 100 * 512, isHole: true, isZero: true),
            AllocationExtent(length: 8 * 512, isHole: false, isZero: false),
            AllocationExtent(length: (1024 - 108) * 512, isHole: true, isZero: true),
            AllocationExtent(length: 1024 * 512, isHole: false, isZero: false),
        ])
        #expect(extents.reduce(0) { $0 + $1.length } == 2048 * 512)
    }
}
