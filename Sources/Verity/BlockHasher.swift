import Crypto

/// Digests blocks as dm-verity hash type 1 does: SHA-256 of the salt, then
/// the block. swift-crypto uses the CPU's SHA extensions where it has them.
public struct BlockHasher: Sendable, Hashable {
    public let salt: [UInt8]

    public init(salt: [UInt8]) {
        self.salt = salt
    }

    /// The digest of `block`.
    public func digest(_ block: UnsafeRawBufferPointer) -> SHA256.Digest {
        var hasher = SHA256()
        if !salt.isEmpty { salt.withUnsafeBytes { hasher.update(bufferPointer: $0) } }
        hasher.update(bufferPointer: block)
        return hasher.finalize()
    }

    /// Whether `block` digests to the 32 bytes at `expected`.
    public func matches(_ block: UnsafeRawBufferPointer, expected: UnsafeRawBufferPointer) -> Bool {
        digest(block).withUnsafeBytes { $0.elementsEqual(expected) }
    }
}
