/// Little-endian field encoding for the cache's metadata.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    mutating func append<Integer: FixedWidthInteger>(_ value: Integer) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ raw: [UInt8]) {
        bytes.append(contentsOf: raw)
    }

    /// A string as a u16 length and UTF-8 bytes; `nil` as length 0xFFFF.
    mutating func append(string: String?) {
        guard let string else {
            append(UInt16.max)
            return
        }
        let utf8 = Array(string.utf8)
        append(UInt16(utf8.count))
        append(utf8)
    }
}

/// Reads what ``ByteWriter`` wrote; every read is bounds-checked, so a
/// corrupt length cannot read past the buffer.
struct ByteReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func read<Integer: FixedWidthInteger>(_: Integer.Type = Integer.self) -> Integer? {
        let size = MemoryLayout<Integer>.size
        guard offset + size <= bytes.count else { return nil }
        var value = Integer.zero
        for index in (0..<size).reversed() {
            value = value << 8 | Integer(bytes[offset + index])
        }
        offset += size
        return value
    }

    mutating func read(count: Int) -> [UInt8]? {
        guard count >= 0, offset + count <= bytes.count else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// A string written by ``ByteWriter/append(string:)``: `.some(nil)` for a
    /// stored nil, `nil` when the bytes run out or are not UTF-8.
    mutating func readString() -> String?? {
        guard let length = read(UInt16.self) else { return nil }
        if length == .max { return .some(nil) }
        guard let raw = read(count: Int(length)), let string = String(validating: raw, as: UTF8.self) else { return nil }
        return .some(string)
    }
}
