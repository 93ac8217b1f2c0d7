import ArgumentParser
import LayeredDisk
import RemoteImage

/// `lazydisk cat URL`: the bytes a VM would read, to stdout, for scripts.
struct CatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat",
        abstract: "Write the disk's bytes (or a part of them) to stdout.",
        discussion: "Reads through the same layers as serve, so it shows exactly what a VM sees."
    )

    /// Bytes read from the disk per step, and how many steps are read while
    /// the oldest is written: 16 MiB in flight, as when one 16 MiB step was
    /// read ahead of the one being written, with 20 MiB held instead of 32.
    private static let stepBytes: UInt64 = 4 << 20
    private static let stepsInFlight = 4
    /// A step goes out 16 KiB a write, as `curl -o` and `dd` write: a 4 MiB
    /// write lets the kernel take large folios for a file's page cache,
    /// which cost more here, not less. 1 GiB behind 30 ms to a file, 3
    /// rounds alternating: 3.34–6.62 s (2.7–5.3 s of system time) in 4 MiB
    /// writes, 2.11–2.30 s (1.7–1.8 s) in 16 KiB ones; `curl -o` 1.66–1.94 s.
    private static let writeBytes = 16 << 10

    @OptionGroup var image: ImageArgument

    @OptionGroup var part: ByteRangeOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var cache: CacheOptions

    func run() async throws {
        let stack = try await ImageStack.open(try await image.source(commandTimeLimit: remote.commandTimeLimit), remote: remote, cache: cache)
        let disk = stack.disk
        let range = try part.range(within: disk.byteCount)
        let steps = stride(from: range.lowerBound, to: range.upperBound, by: Int(Self.stepBytes)).map {
            $0..<min($0 + Self.stepBytes, range.upperBound)
        }
        // One slot more than steps in flight: while step i is written from
        // its slot, step i + stepsInFlight is read into another.
        let slots = Self.stepsInFlight + 1
        let buffers = StepBuffers(slots: slots, slotBytes: Int(Self.stepBytes))
        let slot = { @Sendable (index: Int) in buffers.slot(index % slots, count: steps[index].count) }
        // A step the cache holds whole is written from the cache's file, to
        // a regular file only: a pipe or a socket would hold the file's own
        // pages until its reader took them, and drop-behind could not let
        // them go.
        let sendsFromFile = StandardStream.output.isRegularFile
        let startReading = { (index: Int) in
            Task {
                var destination = SpanTakingDestination(slot(index), takingFileSpans: sendsFromFile)
                try await disk.readBytes(steps[index], into: &destination)
                return destination.span
            }
        }
        var reading = steps.indices.prefix(Self.stepsInFlight).map(startReading)
        for index in steps.indices {
            let span = try await reading.removeFirst().value
            if index + Self.stepsInFlight < steps.endIndex {
                reading.append(startReading(index + Self.stepsInFlight))
            }
            if let span {
                defer { span.sent() }
                try StandardStream.output.write(span, pieceBytes: Self.writeBytes, through: slot(index))
            } else {
                let step = UnsafeRawBufferPointer(slot(index))
                for start in stride(from: 0, to: step.count, by: Self.writeBytes) {
                    try StandardStream.output.write(UnsafeRawBufferPointer(rebasing: step[start..<min(start + Self.writeBytes, step.count)]))
                }
            }
            stack.dropPages(passed: steps[index])
        }
        try await stack.finish()
    }
}
