extension [UInt8] {
    /// Lowercase hex, as veritysetup prints a root hash.
    public var hexString: String {
        let digits = [Character]("0123456789abcdef")
        return String(flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xf)]] })
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
