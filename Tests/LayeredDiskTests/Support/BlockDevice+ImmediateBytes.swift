import LayeredDisk

extension BlockDevice {
    /// `readImmediately(at:count:into:)` into a buffer of 0xA5 bytes, so a
    /// byte the read failed to write shows; `nil` when the read would wait.
    func immediateBytes(at sector: UInt64, count: Int) throws -> [UInt8]? {
        var bytes = [UInt8](repeating: 0xA5, count: count * sectorSize)
        let served = try bytes.withUnsafeMutableBytes { try readImmediately(at: sector, count: count, into: $0) }
        return served ? bytes : nil
    }
}
