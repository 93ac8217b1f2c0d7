import ArgumentParser
import Foundation
import LayeredDisk
import RemoteImage

/// `lazydisk cat URL`: the bytes a VM would read, to stdout, for scripts.
struct CatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat",
        abstract: "Write the disk's bytes (or a part of them) to stdout.",
        discussion: "Reads through the same layers as serve, so it shows exactly what a VM sees."
    )

    /// Bytes read from the disk per step; the next step is fetched while this
    /// one is written.
    private static let stepBytes: UInt64 = 16 << 20

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
        var pending = steps.first.map { step in Task { try await disk.readBytes(step) } }
        for index in steps.indices {
            let bytes = try await pending!.value
            pending = steps.indices.contains(index + 1) ? Task { [step = steps[index + 1]] in try await disk.readBytes(step) } : nil
            try StandardStream.output.write(bytes)
        }
        try await stack.finish()
    }
}
