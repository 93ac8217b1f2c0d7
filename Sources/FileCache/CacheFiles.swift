import FoundationEssentials
import Glibc
import ImageModel
import Synchronization
import SystemPackage

/// The files of one image's cache directory:
/// - `lock`: never replaced; `flock` on it serializes opening, rebuilding and
///   bitmap updates across processes.
/// - `inuse`: shared-locked by every process that has the cache open; its
///   modification time is the last use (see ``CacheUse``).
/// - `meta`: the 4 KiB header, then the presence bitmap pages.
/// - `data`: the disk's bytes at their own offsets, sparse where absent.
final class CacheFiles: Sendable {
    let lock: FileDescriptor
    let meta: FileDescriptor
    let data: FileDescriptor
    /// Held while the cache is open, so it is not pruned under its reader.
    private let use: CacheUse

    private init(lock: FileDescriptor, meta: FileDescriptor, data: FileDescriptor, use: CacheUse) {
        self.lock = lock
        self.meta = meta
        self.data = data
        self.use = use
    }

    deinit {
        try? data.close()
        try? meta.close()
        try? lock.close()
    }

    static func offset(ofPage page: Int) -> Int64 {
        Int64(CacheHeader.size + page * PresenceBitmap.pageSize)
    }

    func readPage(_ page: Int) throws(CacheFileError) -> [UInt8] {
        try meta.readExactly(count: PresenceBitmap.pageSize, at: Self.offset(ofPage: page))
    }

    /// Opens the cache in `directory` for `expected`, creating it, or
    /// rebuilding it (with the reason) when what is there cannot be used.
    static func open(
        _ directory: FilePath, expecting expected: CacheHeader
    ) throws(CacheFileError) -> (FileCacheLayer, CacheOpening) {
        try makeDirectories(directory)
        let use = CacheUse(directory: directory, countsAsUse: true)
        return try whileLocked(directory) { lock throws(CacheFileError) in
            let fresh = !FileManager.default.fileExists(atPath: directory.appending("meta").string)
            do {
                return (try load(directory, lock: lock, expecting: expected, use: use), .reused)
            } catch {
                try create(directory, header: expected)
                return (try load(directory, lock: lock, expecting: expected, use: use), fresh ? .created : .rebuilt(reason: "\(error)"))
            }
        }
    }

    /// Opens the cache in `directory` as it is, for offline use and status;
    /// read-only where the files cannot be written (a read-only mount, a
    /// cache root of another user), since reading is all these need.
    static func openExisting(_ directory: FilePath, countsAsUse: Bool) throws(CacheFileError) -> FileCacheLayer {
        guard FileManager.default.fileExists(atPath: directory.appending("meta").string) else {
            throw .missing(directory.string)
        }
        let use = CacheUse(directory: directory, countsAsUse: countsAsUse)
        do {
            return try whileLocked(directory) { lock throws(CacheFileError) in
                try load(directory, lock: lock, expecting: nil, use: use)
            }
        } catch let .system(_, errno) where errno == .readOnlyFileSystem || errno == .permissionDenied {
            return try whileLocked(directory, access: .readOnly) { lock throws(CacheFileError) in
                try load(directory, lock: lock, expecting: nil, access: .readOnly, use: use)
            }
        }
    }

    /// Runs `body` holding the directory's lock file, locked. On success the
    /// opened layer owns the lock descriptor; on failure it is closed.
    private static func whileLocked<Result>(
        _ directory: FilePath, access: FileDescriptor.AccessMode = .readWrite, _ body: (FileDescriptor) throws(CacheFileError) -> Result
    ) throws(CacheFileError) -> Result {
        let lock = try access == .readOnly ? openFile(directory.appending("lock"), access: .readOnly) : openLock(directory)
        do {
            try lock.lockExclusively()
            let result = try body(lock)
            try? lock.unlock()
            return result
        } catch {
            try? lock.close()
            throw error
        }
    }

    /// Opens and checks `meta` and `data`. On success the layer owns them and
    /// `lock`; on failure `meta` and `data` are closed and `lock` stays the
    /// caller's.
    private static func load(
        _ directory: FilePath, lock: FileDescriptor, expecting expected: CacheHeader?, access: FileDescriptor.AccessMode = .readWrite,
        use: CacheUse
    ) throws(CacheFileError) -> FileCacheLayer {
        let meta = try openFile(directory.appending("meta"), access: access)
        var data: FileDescriptor?
        do throws(CacheFileError) {
            data = try openFile(directory.appending("data"), access: access)
            let header = try CacheHeader(decoding: meta.readExactly(count: CacheHeader.size, at: 0))
            if let expected, !header.holdsData(of: expected) {
                throw .corrupt("it was made for \(header.describe()), the image is now \(expected.describe())")
            }
            let dataSize = try data!.size
            guard dataSize >= Int64(header.diskSize) else {
                throw .truncated("data file is \(dataSize) bytes, the disk \(header.diskSize)")
            }
            var bitmap = PresenceBitmap(chunkCount: header.chunkCount)
            var discarded = 0
            for page in 0..<bitmap.pageCount {
                let stored = try meta.readExactly(count: PresenceBitmap.pageSize, at: offset(ofPage: page))
                if !bitmap.merge(storedPage: stored, page: page) {
                    discarded += 1
                }
            }
            let files = CacheFiles(lock: lock, meta: meta, data: data!, use: use)
            return FileCacheLayer(header: header, directory: directory, files: files, bitmap: bitmap, discardedPages: discarded)
        } catch {
            try? meta.close()
            try? data?.close()
            throw error
        }
    }

    /// Writes a fresh, empty cache beside the old one and moves it into
    /// place: the metadata first, so that a crash between the two renames
    /// leaves an empty bitmap over old data, never old bits over new data.
    private static func create(_ directory: FilePath, header: CacheHeader) throws(CacheFileError) {
        let encoded = try header.encoded()
        let metaPath = directory.appending("meta.new")
        let dataPath = directory.appending("data.new")
        let meta = try openFile(metaPath, creating: true)
        let data: FileDescriptor
        do {
            data = try openFile(dataPath, creating: true)
        } catch {
            try? meta.close()
            throw error
        }
        defer {
            try? meta.close()
            try? data.close()
        }
        do throws(CacheFileError) {
            let pages = PresenceBitmap.pageCount(chunkCount: header.chunkCount)
            try resize(meta, to: offset(ofPage: pages))
            try meta.writeAll(encoded, at: 0)
            try resize(data, to: Int64(header.diskSize))
            try meta.synchronizeData()
            try data.synchronizeData()
            try rename(metaPath, to: directory.appending("meta"))
        } catch {
            // Nothing half made stays behind (the old cache, if any, does).
            unlink(metaPath.string)
            unlink(dataPath.string)
            throw error
        }
        do throws(CacheFileError) {
            try rename(dataPath, to: directory.appending("data"))
        } catch {
            unlink(dataPath.string)
            throw error
        }
        try synchronizeDirectory(directory)
    }

    /// Replaces the file at `path` with `bytes` so that a crash leaves either
    /// the old file or the new one, whole: written beside it, made durable,
    /// renamed over it. The file beside it has a name of this call's own, so
    /// writers at once (processes sharing a cache, each saving its boot
    /// trace) never write into one file or rename it from under each other:
    /// the last rename wins, whole.
    static func replaceFile(at path: FilePath, with bytes: [UInt8]) throws(CacheFileError) {
        let writer = replacements.add(1, ordering: .relaxed).newValue
        let temporary = FilePath("\(path.string).new-\(getpid())-\(writer)")
        let file = try openFile(temporary, creating: true)
        do throws(CacheFileError) {
            defer { try? file.close() }
            try file.writeAll(bytes, at: 0)
            try file.synchronizeData()
            try rename(temporary, to: path)
        } catch {
            unlink(temporary.string)
            throw error
        }
        try synchronizeDirectory(path.removingLastComponent())
    }

    private static let replacements = Atomic<Int>(0)

    /// The whole file at `path`, or `nil` when there is none.
    static func contents(of path: FilePath) throws(CacheFileError) -> [UInt8]? {
        let file: FileDescriptor
        do {
            file = try openFile(path)
        } catch .missing {
            return nil
        }
        defer { try? file.close() }
        return try file.readExactly(count: Int(file.size), at: 0)
    }

    private static func openLock(_ directory: FilePath) throws(CacheFileError) -> FileDescriptor {
        try makeDirectories(directory)
        return try openFile(directory.appending("lock"), creating: true)
    }

    /// `mkdir -p`, keeping the system's reason when it fails.
    private static func makeDirectories(_ directory: FilePath) throws(CacheFileError) {
        var path = FilePath(root: directory.root)
        for component in directory.components {
            path.append(component)
            guard mkdir(path.string, 0o755) == 0 || errno == EEXIST else {
                throw .system("creating \(path)", Errno(rawValue: errno))
            }
        }
    }

    private static func openFile(
        _ path: FilePath, creating: Bool = false, access: FileDescriptor.AccessMode = .readWrite
    ) throws(CacheFileError) -> FileDescriptor {
        do {
            return try FileDescriptor.open(
                path, access, options: creating ? [.create, .truncate] : [], permissions: creating ? [.ownerReadWrite, .groupRead, .otherRead] : nil)
        } catch Errno.noSuchFileOrDirectory where !creating {
            throw .missing(path.string)
        } catch {
            throw .system("opening \(path)", error as? Errno ?? .ioError)
        }
    }

    private static func resize(_ file: FileDescriptor, to size: Int64) throws(CacheFileError) {
        do {
            try file.resize(to: size)
        } catch {
            throw .system("resizing", error as? Errno ?? .ioError)
        }
    }

    private static func rename(_ from: FilePath, to: FilePath) throws(CacheFileError) {
        guard Glibc.rename(from.string, to.string) == 0 else { throw .system("renaming \(from)", Errno(rawValue: errno)) }
    }

    private static func synchronizeDirectory(_ directory: FilePath) throws(CacheFileError) {
        let descriptor: FileDescriptor
        do {
            descriptor = try FileDescriptor.open(directory, .readOnly)
        } catch {
            throw .system("opening \(directory)", error as? Errno ?? .ioError)
        }
        defer { try? descriptor.close() }
        guard fsync(descriptor.rawValue) == 0 else { throw .system("fsync \(directory)", Errno(rawValue: errno)) }
    }
}

/// What opening a cache found.
public enum CacheOpening: Sendable, Hashable {
    /// There was no cache; an empty one was made.
    case created
    /// The cache matched the image and was kept.
    case reused
    /// The cache could not be used (why is given) and was replaced by an empty one.
    case rebuilt(reason: String)
}

extension CacheHeader {
    func describe() -> String {
        "\(identity.url) (\(identity.size) bytes, ETag \(identity.etag ?? "none"), "
            + (identity.rootHash.map { "root hash \($0), " } ?? "")
            + "\(diskSize)-byte \(format) disk, \(chunkSize)-byte chunks)"
    }
}
