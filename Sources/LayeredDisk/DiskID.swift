/// A 16-byte identifier a disk may carry (a VHD unique id, a GPT-style GUID).
///
/// Guests can see it, so a layered disk reports the first one found from the
/// top of the stack down.
public struct DiskID: Sendable, Hashable {
    /// The identifier's bytes, in the order they appear on disk.
    public let bytes: [UInt8]

    /// Creates an identifier from exactly 16 bytes; any other length is `nil`.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 16 else { return nil }
        self.bytes = Array(bytes)
    }
}

extension DiskID: CustomStringConvertible {
    /// The identifier in the familiar 8-4-4-4-12 hexadecimal grouping.
    public var description: String {
        let hex = bytes.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }
        return [0..<4, 4..<6, 6..<8, 8..<10, 10..<16]
            .map { hex[$0].joined() }
            .joined(separator: "-")
    }
}
