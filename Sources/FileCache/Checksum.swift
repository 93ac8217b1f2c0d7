/// FNV-1a, 64 bits: a small, dependency-free checksum that catches torn and
/// corrupted metadata. It is not a defence against tampering.
enum Checksum {
    static let seed: UInt64 = 0xCBF2_9CE4_8422_2325

    static func fnv1a(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = seed) -> UInt64 {
        var hash = seed
        for index in 0..<bytes.count {
            hash = (hash ^ UInt64(bytes[index])) &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    static func fnv1a(_ bytes: some ContiguousCollection, seed: UInt64 = seed) -> UInt64 {
        bytes.withUnsafeBytes { fnv1a($0, seed: seed) }
    }
}

/// Byte collections with contiguous storage: arrays, their slices, and
/// buffers lent by a caller.
protocol ContiguousCollection {
    func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result
}

extension Array: ContiguousCollection where Element == UInt8 {}
extension ArraySlice: ContiguousCollection where Element == UInt8 {}

extension UnsafeRawBufferPointer: ContiguousCollection {
    func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(self)
    }
}
