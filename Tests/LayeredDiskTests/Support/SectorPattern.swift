import LayeredDisk

/// Distinct, recognisable sector contents, so a test can tell which sector
/// (and which generation of writes) a byte came from.
enum SectorPattern {
    static func bytes(sector: UInt64, generation: UInt8 = 0, sectorSize: Int = 512) -> [UInt8] {
        var accumulator = (sector &+ 1) &* 3 &+ UInt64(generation) &* 0x1_0000_0001
        return (0..<sectorSize).map { _ in
            accumulator = accumulator &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: accumulator >> 56)
        }
    }

    static func bytes(sectors: Range<UInt64>, generation: UInt8 = 0, sectorSize: Int = 512) -> [UInt8] {
        sectors.flatMap { bytes(sector: $0, generation: generation, sectorSize: sectorSize) }
    }

    /// A read-only disk whose every sector holds its pattern.
    static func disk(sectorCount: UInt64, sectorSize: Int = 512) throws -> InMemoryDisk {
        try InMemoryDisk(bytes: bytes(sectors: 0..<sectorCount, sectorSize: sectorSize), sectorSize: sectorSize, readOnly: true)
    }
}

