import Glibc
import Fetching
import LayeredDisk
import SystemPackage

/// A claim, visible to other processes, that this process is fetching a run
/// of chunks: a POSIX write lock on their bytes of the data file.
///
/// Two pulls (or a pull and a server) sharing a cache use it to split the
/// work instead of fetching the same bytes twice. POSIX record locks belong
/// to the process, so tasks of one process never block each other; the cache
/// keeps its data file open for its whole life, as these locks require.
public struct ChunkClaim: ChunkStoreClaim {
    private let data: FileDescriptor
    private let bytes: Range<UInt64>

    /// Claims `bytes`, or returns `nil` when another process holds any of them.
    static func claim(_ bytes: Range<UInt64>, in data: FileDescriptor) throws(CacheFileError) -> ChunkClaim? {
        guard try lock(data, bytes, type: F_WRLCK) else { return nil }
        return ChunkClaim(data: data, bytes: bytes)
    }

    /// Lets other processes fetch these chunks (they will find them cached).
    public func release() {
        _ = try? Self.lock(data, bytes, type: F_UNLCK)
    }

    private static func lock(_ data: FileDescriptor, _ bytes: Range<UInt64>, type: Int32) throws(CacheFileError) -> Bool {
        var request = flock()
        request.l_type = Int16(type)
        request.l_whence = Int16(SEEK_SET)
        request.l_start = off_t(bytes.lowerBound)
        request.l_len = off_t(bytes.count)
        while fcntl(data.rawValue, F_SETLK, &request) != 0 {
            switch errno {
            case EINTR: continue
            case EAGAIN, EACCES: return false
            default: throw .system("fcntl(F_SETLK)", Errno(rawValue: errno))
            }
        }
        return true
    }
}
