import ArgumentParser
import FileCache
import SystemPackage

/// `lazydisk cache trace URL --output FILE`: an image's boot trace as a file
/// of its own, to publish beside the image so that every host's first boot
/// replays it (`serve --trace-from`, `pull --trace-from`).
struct CacheTraceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace", abstract: "Write the boot trace the image's cache recorded to a file, to publish it.")

    @OptionGroup var image: ImageArgument

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("The file to write (replaced whole).", valueName: "file"))
    var output: String

    @OptionGroup var cache: CacheRootOptions
    @OptionGroup var verified: RootHashOption

    func run() async throws {
        let url = try await image.source().url
        let directory = cache.location.existingDirectory(for: url, rootHash: verified.rootHash)
        guard let trace = try BootTrace.load(from: directory) else {
            throw CommandError("no boot trace of \(url) in \(cache.location.root): serve the image once to record one")
        }
        try trace.write(to: FilePath(output))
        print("wrote the boot trace of \(url) (\(trace.chunks.count) chunks of \(ByteFormat.size(UInt64(trace.chunkBytes)))) to \(output)")
    }
}
