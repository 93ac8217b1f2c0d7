import ArgumentParser
import Fetching
import FoundationEssentials
import ImageModel
import RemoteImage
import Synchronization
import SystemPackage
import Verity

/// `lazydisk hash-tree IMAGE --output FILE`: the dm-verity hash tree of an
/// image, byte for byte what `veritysetup format` makes for the same data,
/// salt, UUID and block sizes, from a file or streamed from a URL, for
/// publishers who do not have cryptsetup.
struct HashTreeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-tree",
        abstract: "Make an image's dm-verity hash tree (as veritysetup format does) and print its root hash.",
        discussion: """
            Publish the tree beside the image and give its root hash to --root-hash. With --salt - (no salt), a block's \
            digest names its content, so a new version of an image fetches only the chunks that changed.
            """
    )

    @OptionGroup var image: ImageArgument

    @Option(name: .shortAndLong, help: ArgumentHelp("Write the tree here.", valueName: "file"))
    var output: String

    @Option(help: ArgumentHelp("The salt, in hex, or - for none (default: 32 random bytes, as veritysetup).", valueName: "hex|-"))
    var salt: String?

    @Option(help: ArgumentHelp("The UUID the superblock records (default: a random one).", valueName: "uuid"))
    var uuid: String?

    @Option(help: "Bytes in a data block.")
    var dataBlockSize = 4096

    @Option(help: "Bytes in a hash block.")
    var hashBlockSize = 4096

    @OptionGroup var remote: RemoteOptions

    func validate() throws {
        for (name, size) in [("--data-block-size", dataBlockSize), ("--hash-block-size", hashBlockSize)]
        where size < 512 || size > 1 << 20 || size.nonzeroBitCount != 1 {
            throw ValidationError("\(name) must be a power of two from 512 to 1048576")
        }
        if let salt, salt != "-", [UInt8](hexString: salt).map({ $0.count > 256 }) ?? true {
            throw ValidationError("--salt must be hex digits (at most 256 bytes), or - for none")
        }
        if let uuid, UUID(uuidString: uuid) == nil {
            throw ValidationError("--uuid must be a UUID such as 12345678-1234-1234-1234-123456789abc")
        }
    }

    func run() async throws {
        let text = image.url ?? ""
        let isURL = text.contains("://") || image.url == nil
        let size: UInt64
        let source: ImageData
        if isURL {
            let remoteImage = try await remote.openImage(try await image.source(commandTimeLimit: remote.commandTimeLimit))
            size = remoteImage.identity.size
            source = .remote { sink in _ = try await remoteImage.download(into: sink) }
        } else {
            let file = try LocalFileSource(path: text, option: "the image")
            size = file.size
            source = .file(file)
        }
        guard size > 0, size % UInt64(dataBlockSize) == 0 else {
            throw CommandError("the image has \(size) bytes, not a whole number of \(dataBlockSize)-byte blocks; lazydisk verifies every byte, so pad it")
        }
        var superblock = VeritySuperblock(
            dataBlocks: size / UInt64(dataBlockSize), salt: saltBytes(), uuid: uuidBytes())
        superblock.dataBlockSize = UInt32(dataBlockSize)
        superblock.hashBlockSize = UInt32(hashBlockSize)
        let builder = BuildingSink(HashTreeBuilder(superblock: superblock))
        try await source.stream(size: size, into: builder)
        let (file, rootHash) = try builder.finish()
        do {
            let descriptor = try FileDescriptor.open(
                FilePath(output), .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead])
            defer { try? descriptor.close() }
            _ = try file.withUnsafeBytes { try descriptor.writeAll($0) }
        } catch {
            throw CommandError("cannot write the tree to \(output): \(error)")
        }
        printLabeledRows([
            ("data blocks", "\(superblock.dataBlocks) of \(dataBlockSize) bytes"),
            ("hash tree", "\(file.count) bytes in \(output)"),
            ("salt", superblock.salt.isEmpty ? "-" : superblock.salt.hexString),
            ("root hash", rootHash.hexString),
        ])
    }

    private func saltBytes() -> [UInt8] {
        switch salt {
        case "-": []
        case let hex?: [UInt8](hexString: hex) ?? []
        case nil: (0..<32).map { _ in UInt8.random(in: .min ... .max) }
        }
    }

    private func uuidBytes() -> [UInt8] {
        withUnsafeBytes(of: (uuid.flatMap(UUID.init(uuidString:)) ?? UUID()).uuid) { Array($0) }
    }
}

/// Where an image's bytes come from for ``HashTreeCommand``.
private enum ImageData {
    case file(LocalFileSource)
    case remote(@Sendable (any FetchSink) async throws -> Void)

    /// Hands the `size` bytes to `sink` in order.
    func stream(size: UInt64, into sink: any FetchSink) async throws {
        switch self {
        case let .file(file):
            var offset: UInt64 = 0
            while offset < size {
                let piece = try await file.read(offset..<min(size, offset + (8 << 20)), for: .fill)
                try piece.withUnsafeBytes { try sink.write($0, at: offset) }
                offset += UInt64(piece.count)
            }
        case let .remote(download):
            try await download(sink)
        }
    }
}

/// Feeds a builder the bytes a download streams, in order; bytes a retried
/// transfer hands over again are skipped.
private final class BuildingSink: FetchSink {
    private let state: Mutex<(builder: HashTreeBuilder, next: UInt64)>

    init(_ builder: HashTreeBuilder) {
        state = Mutex((builder, 0))
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        try state.withLock { state in
            guard offset <= state.next else { throw CommandError("the download skipped from byte \(state.next) to \(offset)") }
            let skip = Int(min(UInt64(bytes.count), state.next - offset))
            state.builder.append(UnsafeRawBufferPointer(rebasing: bytes[skip...]))
            state.next += UInt64(bytes.count - skip)
        }
    }

    func finish() throws -> (file: [UInt8], rootHash: [UInt8]) {
        try state.withLock { try $0.builder.finish() }
    }
}
