import FileCache
import Fetching
import SystemPackage

/// A local file read by byte ranges, as the fetch pipeline reads a remote
/// object: a hash tree given as a file, an image `hash-tree` reads.
final class LocalFileSource: RangeSource {
    let size: UInt64
    private let descriptor: FileDescriptor

    /// Opens the regular file at `path`, which `option` names (in errors).
    init(path: String, option: String) throws {
        descriptor = try openOptionFile(path, option: option)
        do {
            size = UInt64(try descriptor.size)
        } catch {
            try? descriptor.close()
            throw error
        }
    }

    deinit {
        try? descriptor.close()
    }

    func read(_ range: Range<UInt64>, for purpose: FetchPurpose) async throws -> [UInt8] {
        try descriptor.readExactly(count: range.count, at: Int64(range.lowerBound))
    }
}
