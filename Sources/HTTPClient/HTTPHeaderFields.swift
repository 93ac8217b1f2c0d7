/// The header lines of one response, kept as they arrived and parsed only
/// when a field is asked for.
///
/// A response carries a dozen fields and its reader asks for five; making a
/// name, a value and a dictionary entry of every line cost curl's thread an
/// allocation and a hash per line, on every 4 KiB miss.
public struct HTTPHeaderFields: Sendable {
    private var lines: [UInt8] = []

    init() {
        lines.reserveCapacity(Self.typicalSize)
    }

    /// Adds one line as the server sent it, line end included.
    mutating func append(line: UnsafeRawBufferPointer) {
        lines.append(contentsOf: line)
    }

    /// Forgets every line, keeping the room (an interim 1xx response is
    /// followed by the final one).
    mutating func removeAll() {
        lines.removeAll(keepingCapacity: true)
    }

    /// The value of the field named `name`, in any case, parsed as
    /// ``HTTPHeader`` parses a line; the last one wins when a field repeats.
    public subscript(name: String) -> String? {
        var name = name
        return name.withUTF8 { name in
            lines.withUnsafeBytes { lines in
                var found: String?
                var start = 0
                while start < lines.count {
                    let end = lines[start...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? lines.count
                    if let (lineName, value) = HTTPHeader.split(lines[start..<end]), Self.name(lineName, equals: name),
                       HTTPHeader.isValid(name: lineName, value: value) {
                        found = String(decoding: value, as: UTF8.self)
                    }
                    start = end
                }
                return found
            }
        }
    }

    /// Compares a line's name with the one asked for, byte by byte, in any
    /// case, without making a string of it.
    private static func name(_ lineName: Slice<UnsafeRawBufferPointer>, equals name: UnsafeBufferPointer<UInt8>) -> Bool {
        guard lineName.count == name.count else { return false }
        for (offset, byte) in lineName.enumerated() where byte.asciiLowercased != name[offset].asciiLowercased {
            return false
        }
        return true
    }

    /// nginx's reply head is ~300 bytes, an object store's ~1 KiB.
    private static let typicalSize = 1 << 10
}
