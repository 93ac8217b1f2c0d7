import ArgumentParser

/// `--offset` and `--length`: the part of the disk a command works on.
struct ByteRangeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("First byte (suffixes K, M, G allowed).", valueName: "bytes"))
    var offset = ByteCount(bytes: 0)

    @Option(help: ArgumentHelp("Bytes from there (default: to the end of the disk).", valueName: "bytes"))
    var length: ByteCount?

    /// The range on a disk of `size` bytes, or an error naming the option at fault.
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
