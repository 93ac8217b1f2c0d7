/// The allocation of a disk under a RAM overlay: what the disk below
/// reports, except that whatever the overlay holds is data, so a copier
/// never skips a guest's write into a hole.
public struct OverlaidAllocation: AllocationMap {
    public let overlay: RAMLayer
    public let below: any AllocationMap

    public init(overlay: RAMLayer, below: any AllocationMap) {
        self.overlay = overlay
        self.below = below
    }

    public func allocation(of range: Range<UInt64>) async throws -> [AllocationExtent] {
        let sectorSize = UInt64(overlay.sectorSize)
        var extents: [AllocationExtent] = []
        var offset = range.lowerBound
        for extent in try await below.allocation(of: range) {
            let end = offset + extent.length
            if extent.isHole || extent.isZero {
                var position = offset
                for run in overlay.storedRuns(in: offset / sectorSize..<(end + sectorSize - 1) / sectorSize) {
                    let stored = max(position, run.lowerBound * sectorSize)..<min(end, run.upperBound * sectorSize)
                    guard !stored.isEmpty else { continue }
                    Self.append(AllocationExtent(length: stored.lowerBound - position, isHole: extent.isHole, isZero: extent.isZero), to: &extents)
                    Self.append(AllocationExtent(length: UInt64(stored.count), isHole: false, isZero: false), to: &extents)
                    position = stored.upperBound
                }
                Self.append(AllocationExtent(length: end - position, isHole: extent.isHole, isZero: extent.isZero), to: &extents)
            } else {
                Self.append(extent, to: &extents)
            }
            offset = end
        }
        return extents
    }

    /// Adds `extent`, joined with the last one when they say the same.
    private static func append(_ extent: AllocationExtent, to extents: inout [AllocationExtent]) {
        guard extent.length > 0 else { return }
        if let last = extents.last, last.isHole == extent.isHole, last.isZero == extent.isZero {
            extents[extents.count - 1].length += extent.length
        } else {
            extents.append(extent)
        }
    }
}
