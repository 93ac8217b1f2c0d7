extension BidirectionalCollection<UInt8> {
    /// The bytes without the spaces, tabs and line ends around them. Every
    /// response header line goes through this, so it looks at ASCII bytes
    /// only: no Foundation bridging and no Unicode tables per line.
    var trimmingHTTPWhitespace: SubSequence {
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") }
        let start = firstIndex { !isBlank($0) } ?? endIndex
        let end = lastIndex { !isBlank($0) }.map(index(after:)) ?? start
        return self[start..<end]
    }
}

extension Substring {
    /// The text without the spaces, tabs and line ends around it.
    var trimmingHTTPWhitespace: Substring {
        Substring(utf8.trimmingHTTPWhitespace)
    }
}
