import FileCache
import SystemPackage

/// The hash tree's blocks kept beside an image's cache, in the tree's own
/// layout (a sparse file): a block that reads as zeros was never stored.
/// Nothing in it is trusted: every block read back is checked against its
/// parent again, so a torn write or a damaged file costs a fetch, no more.
final class HashBlockFile: Sendable {
    static let name = "hash-tree"
    private let descriptor: FileDescriptor

    init(directory: FilePath) throws {
        descriptor = try FileDescriptor.open(
            directory.appending(Self.name), .readWrite, options: [.create, .closeOnExec], permissions: [.ownerReadWrite])
    }

    deinit {
        try? descriptor.close()
    }

    /// The bytes at `offset` (zeros where none were stored), or nil where
    /// the file ends before them.
    func read(count: Int, at offset: UInt64) -> [UInt8]? {
        try? descriptor.readExactly(count: count, at: Int64(offset))
    }

    /// Keeps verified blocks; a failure only means they are fetched again.
    func write(_ bytes: [UInt8], at offset: UInt64) {
        _ = try? bytes.withUnsafeBytes { try descriptor.writeAll(toAbsoluteOffset: Int64(offset), $0) }
    }
}
