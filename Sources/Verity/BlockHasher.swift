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

extension [UInt8] {
    /// Lowercase hex, as veritysetup prints a root hash.
    public var hexString: String {
        map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    /// The bytes a string of hex digits spells; nil for anything else.
    public init?(hexString: String) {
        guard hexString.count.isMultiple(of: 2) else { return nil }
        var bytes: [UInt8] = []
        var digits = hexString.makeIterator()
        while let high = digits.next(), let low = digits.next() {
            guard let byte = UInt8(String([high, low]), radix: 16) else { return nil }
            bytes.append(byte)
        }
        self = bytes
    }
}
