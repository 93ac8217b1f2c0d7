import Foundation

/// Byte-for-byte equality through `memcmp`: the randomized tests compare whole
/// disks after every step, and element-wise `==` is slow in debug builds.
func bytesEqual(_ lhs: ArraySlice<UInt8>, _ rhs: ArraySlice<UInt8>) -> Bool {
    guard lhs.count == rhs.count else { return false }
    guard !lhs.isEmpty else { return true }
    return lhs.withUnsafeBytes { left in
        rhs.withUnsafeBytes { right in memcmp(left.baseAddress!, right.baseAddress!, lhs.count) == 0 }
    }
}
