/// `--offset` and `--length` checked against a disk's size.
struct ByteRangeArguments {
    var offset: ByteCount
    var length: ByteCount?

    func range(within size: UInt64) throws -> Range<UInt64> {
        guard offset.bytes <= size else {
            throw CommandError("--offset \(offset.bytes) is past the end of the \(size)-byte disk")
        }
        guard let length else { return offset.bytes..<size }
        let (end, overflow) = offset.bytes.addingReportingOverflow(length.bytes)
        guard !overflow, end <= size else {
            throw CommandError("--offset plus --length runs past the end of the \(size)-byte disk")
        }
        return offset.bytes..<end
    }
}
