/// The header fields of one response, split once as they arrive and parsed
/// only when a field is asked for.
///
/// A response carries a dozen fields and its reader asks for four or five;
/// making a name, a value and a dictionary entry of every line cost curl's
/// thread an allocation and a hash per line, on every 4 KiB miss, and
/// splitting every line again for each field asked for cost it a scan of
/// the whole head per field.
public struct HTTPHeaderFields: Sendable {
    /// The trimmed names and values of the lines that hold a colon, one
    /// after another.
    private var bytes: [UInt8] = []
    /// Where each line's name and value lie in ``bytes``, in arrival order.
    private var fields: [Field] = []

    private struct Field {
        let name: Range<Int>
        let value: Range<Int>
    }

    init() {
        bytes.reserveCapacity(Self.typicalBytes)
        fields.reserveCapacity(Self.typicalFields)
    }

    /// Adds one line as the server sent it, line end included; a line
    /// without a colon holds no field and is passed over.
    mutating func append(line: UnsafeRawBufferPointer) {
        guard let (name, value) = HTTPHeader.split(line) else { return }
        let nameStart = bytes.count
        bytes.append(contentsOf: name)
        let valueStart = bytes.count
        bytes.append(contentsOf: value)
        fields.append(Field(name: nameStart..<valueStart, value: valueStart..<bytes.count))
    }

    /// Forgets every field, keeping the room (an interim 1xx response is
    /// followed by the final one).
    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        fields.removeAll(keepingCapacity: true)
    }

    /// The value of the field named `name`, in any case, checked as
    /// ``HTTPHeader`` checks a line; the last one wins when a field repeats.
    /// Fields with other names are passed over before any check.
    public subscript(name: String) -> String? {
        withValue(of: name) { value in value.map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Hands `body` the bytes of the value ``subscript(_:)`` would give, or
    /// nil: what a reader parses or compares needs no string of it, and
    /// every range answer's Content-Range and ETag are read on curl's
    /// thread.
    public func withValue<Result>(of name: String, _ body: (UnsafeRawBufferPointer?) throws -> Result) rethrows -> Result {
        var name = name
        return try name.withUTF8 { name in
            try bytes.withUnsafeBytes { bytes in
                var found: Range<Int>?
                for field in fields {
                    let (fieldName, value) = (bytes[field.name], bytes[field.value])
                    if Self.name(fieldName, equals: name), HTTPHeader.isValid(name: fieldName, value: value) {
                        found = field.value
                    }
                }
                return try body(found.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) })
            }
        }
    }

    /// Compares a field's name with the one asked for, byte by byte, in any
    /// case, without making a string of it; names of another length are
    /// told apart before any byte is.
    private static func name(_ fieldName: Slice<UnsafeRawBufferPointer>, equals name: UnsafeBufferPointer<UInt8>) -> Bool {
        guard fieldName.count == name.count else { return false }
        for (offset, byte) in fieldName.enumerated() where byte.asciiLowercased != name[offset].asciiLowercased {
            return false
        }
        return true
    }

    /// nginx's reply head is ~300 bytes in eight fields, an object store's
    /// ~1 KiB in a dozen or more.
    private static let typicalBytes = 1 << 10
    private static let typicalFields = 16
}
