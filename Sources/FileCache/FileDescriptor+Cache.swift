import Glibc
import SystemPackage
#if canImport(Glibc)
#endif

/// The few calls the cache needs that swift-system does not wrap, with EINTR
/// retried and failures turned into ``CacheFileError/system(_:_:)``.
extension FileDescriptor {
    /// `fdatasync`: the data written so far is on stable storage.
    func synchronizeData() throws(CacheFileError) {
        try Self.retrying("fdatasync") { fdatasync(rawValue) }
    }

    /// `flock(LOCK_EX)`: waits for the exclusive lock other lazydisk
    /// processes take around cache metadata changes.
    func lockExclusively() throws(CacheFileError) {
        try Self.retrying("flock") { flock(rawValue, LOCK_EX) }
    }

    func unlock() throws(CacheFileError) {
        try Self.retrying("flock") { flock(rawValue, LOCK_UN) }
    }

    /// Reads exactly `count` bytes at `offset`; a short read means the file
    /// is shorter than the cache expects.
    public func readExactly(count: Int, at offset: Int64) throws(CacheFileError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var failure: CacheFileError?
        bytes.withUnsafeMutableBytes { buffer in
            do throws(CacheFileError) {
                try readExactly(into: buffer, at: offset)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return bytes
    }

    func readExactly(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(CacheFileError) {
        var done = 0
        while done < buffer.count {
            let count: Int
            do {
                count = try read(fromAbsoluteOffset: offset + Int64(done), into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            } catch {
                throw .system("read", error as? Errno ?? .ioError)
            }
            guard count > 0 else { throw .truncated("file ends at \(offset + Int64(done)), \(buffer.count - done) bytes early") }
            done += count
        }
    }

    /// `posix_fadvise(DONTNEED)`: the clean pages of `bytes` leave the page
    /// cache (dirty ones start their writeback and stay). Advice only: a
    /// refusal changes nothing a reader sees, so it is not reported.
    func dropCachedPages(_ bytes: Range<UInt64>) {
        _ = posix_fadvise(rawValue, off_t(bytes.lowerBound), off_t(bytes.count), POSIX_FADV_DONTNEED)
    }

    func writeAll(_ bytes: some ContiguousCollection, at offset: Int64) throws(CacheFileError) {
        do {
            _ = try bytes.withUnsafeBytes { try writeAll(toAbsoluteOffset: offset, $0) }
        } catch {
            throw .system("write", error as? Errno ?? .ioError)
        }
    }

    public var size: Int64 {
        get throws(CacheFileError) {
            do {
                return try seek(offset: 0, from: .end)
            } catch {
                throw .system("seek", error as? Errno ?? .ioError)
            }
        }
    }

    private static func retrying(_ operation: String, _ call: () -> Int32) throws(CacheFileError) {
        while call() != 0 {
            guard errno == EINTR else { throw .system(operation, Errno(rawValue: errno)) }
        }
    }
}
