import Glibc
import SystemPackage

/// A claim, visible to other processes, that this process is fetching some
/// bytes of the data file: a POSIX write lock on them.
///
/// Processes sharing a cache use it so that each chunk is fetched once: a
/// fetch claims its chunks, and another process's fetch of them waits (see
/// ``ClaimWatch``) instead of fetching them again. POSIX record locks belong
/// to the process, so tasks of one process never block each other (the
/// fetch scheduler keeps them from fetching a chunk twice), and the kernel
/// drops them when the process dies, so a killed fetch's chunks go to the
/// next process that wants them. The cache keeps its data file open for its
/// whole life, as these locks require.
enum ChunkLock {
    /// Locks `bytes`; false, having locked nothing, when another process
    /// holds any of them.
    static func lock(_ bytes: Range<UInt64>, in data: FileDescriptor) throws(CacheFileError) -> Bool {
        try set(F_WRLCK, bytes, in: data)
    }

    static func unlock(_ bytes: Range<UInt64>, in data: FileDescriptor) {
        _ = try? set(F_UNLCK, bytes, in: data)
    }

    private static func set(_ type: Int32, _ bytes: Range<UInt64>, in data: FileDescriptor) throws(CacheFileError) -> Bool {
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
