import Fetching
import SystemPackage

/// A local file read by byte ranges, as the fetch pipeline reads a remote
/// object: a hash tree given as a file.
final class LocalFileSource: RangeSource {
    let size: UInt64
    private let descriptor: FileDescriptor

    init(path: String) throws {
        descriptor = try FileDescriptor.open(FilePath(path), .readOnly, options: .closeOnExec)
        do {
            size = UInt64(try descriptor.seek(offset: 0, from: .end))
        } catch {
            try? descriptor.close()
            throw error
        }
    }

    deinit {
        try? descriptor.close()
    }

    func read(_ range: Range<UInt64>, for purpose: FetchPurpose) async throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: range.count)
        var done = 0
        while done < range.count {
            let read = try bytes.withUnsafeMutableBytes {
                try descriptor.read(fromAbsoluteOffset: Int64(range.lowerBound) + Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: $0[done...]))
            }
            guard read > 0 else { throw CommandError("the file ends at byte \(range.lowerBound + UInt64(done)), before \(range.upperBound)") }
            done += read
        }
        return bytes
    }
}
