extension Substring {
    /// The text without the spaces, tabs and line ends around it. Every
    /// response header line goes through this, so it looks at ASCII bytes
    /// only: no Foundation bridging and no Unicode tables per line.
    var trimmingHTTPWhitespace: Substring {
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") }
        guard let first = utf8.firstIndex(where: { !isBlank($0) }), let last = utf8.lastIndex(where: { !isBlank($0) }) else {
            return self[endIndex...]
        }
        return self[first..<utf8.index(after: last)]
    }
}
