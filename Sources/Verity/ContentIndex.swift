import Crypto
import FileCache
import FoundationEssentials
import Glibc
import Synchronization
import SystemPackage

/// Every verified chunk under a cache root, by content: a chunk's key is the
/// SHA-256 of its blocks' level-0 digests, which, in trees made without a
/// salt, name the blocks' bytes. A new version of an image looks here
/// before fetching a chunk and copies it from whichever cache holds the
/// same bytes, so it fetches only what changed.
///
/// The index is a file of fixed records beside the caches, appended to as
/// chunks are verified, read by every process sharing the root (each
/// append is one `write` with `O_APPEND`, which never interleaves). Nothing
/// in it is trusted: a chunk copied through it is checked against the new
/// image's tree like any fetched one, so a record of a chunk whose cache
/// was evicted, cleared or never committed costs a look, not a wrong byte.
/// Records of caches that are gone are dropped when a process finds more
/// than half of them stale, by rewriting the file. Its file work runs on
/// the blocking pool (``BlockingWork``).
public final class ContentIndex: Sendable {
    static let fileName = "content-index"
    static let recordSize = 80

    /// Where a chunk's bytes are: a chunk of the cache of the image with
    /// this root hash.
    struct Location: Hashable {
        let rootHash: [UInt8]
        let chunk: UInt64
    }

    /// The chunk size of the caches indexed, which every record's chunk
    /// number counts in.
    public let chunkBytes: Int
    private let root: FilePath
    private let directory: @Sendable (String) -> FilePath
    private let state = Mutex(State())

    private struct State {
        /// Whether the file was read (and compacted) once.
        var loaded = false
        var locations: [ChunkKey: Location] = [:]
        /// How far the file has been read.
        var readUpTo: Int64 = 0
        /// Each cache's data file, opened when first copied from; nil when gone.
        var dataFiles: [[UInt8]: FileDescriptor?] = [:]
    }

    /// The index of the caches under `root`, of chunks of `chunkBytes`;
    /// `directory` names the cache of a root hash (hex).
    public init(root: FilePath, chunkBytes: Int, directory: @escaping @Sendable (String) -> FilePath) {
        self.chunkBytes = chunkBytes
        self.root = root
        self.directory = directory
    }

    deinit {
        state.withLock { state in
            for case let file? in state.dataFiles.values { try? file.close() }
        }
    }

    /// The bytes of each chunk keyed in `wanted` (with its length), as some
    /// cache holds them (unchecked), or nil where no cache is known to: one
    /// trip to the pool, and one look for new records, for a whole fetch.
    func bytes(of wanted: [(key: ChunkKey, count: Int)]) async -> [[UInt8]?] {
        guard !wanted.isEmpty else { return [] }
        return (try? await BlockingWork.run { self.lookUp(wanted) }) ?? wanted.map { _ in nil }
    }

    /// Notes that the image of `rootHash` holds the chunks keyed `entries`
    /// at their chunk numbers (or will, once its cache commits them): one
    /// append for all of them.
    func record(_ entries: [(key: ChunkKey, chunk: UInt64)], rootHash: [UInt8]) async {
        _ = try? await BlockingWork.run { self.append(entries, rootHash: rootHash) }
    }

    private func lookUp(_ wanted: [(key: ChunkKey, count: Int)]) -> [[UInt8]?] {
        state.withLock { state in
            load(&state)
            if wanted.contains(where: { state.locations[$0.key] == nil }) { readNewRecords(&state) }
            return wanted.map { key, count in
                guard let location = state.locations[key] else { return nil }
                guard let file = dataFile(of: location.rootHash, &state) else {
                    state.locations[key] = nil
                    return nil
                }
                return try? file.readExactly(count: count, at: Int64(location.chunk) * Int64(chunkBytes))
            }
        }
    }

    private func append(_ entries: [(key: ChunkKey, chunk: UInt64)], rootHash: [UInt8]) {
        let records = state.withLock { state in
            load(&state)
            return entries.flatMap { entry -> [UInt8] in
                let location = Location(rootHash: rootHash, chunk: entry.chunk)
                guard state.locations[entry.key] != location else { return [] }
                state.locations[entry.key] = location
                return Self.encode(entry.key, location)
            }
        }
        guard !records.isEmpty, let file = try? FileDescriptor.open(
            root.appending(Self.fileName), .writeOnly, options: [.create, .append, .closeOnExec], permissions: [.ownerReadWrite])
        else { return }
        _ = try? records.withUnsafeBytes { try file.write($0) }
        try? file.close()
    }

    /// A record: the key, the root hash, the chunk (little-endian), and the
    /// first 8 bytes of the SHA-256 of those, so a torn append is skipped.
    private static func encode(_ key: ChunkKey, _ location: Location) -> [UInt8] {
        var record = key.bytes + location.rootHash
        withUnsafeBytes(of: location.chunk.littleEndian) { record += $0 }
        return record + checksum(record)
    }

    private static func checksum(_ bytes: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: bytes).prefix(8))
    }

    /// Reads the records appended since the last read.
    private func readNewRecords(_ state: inout State) {
        guard let file = try? FileDescriptor.open(root.appending(Self.fileName), .readOnly, options: .closeOnExec) else { return }
        defer { try? file.close() }
        guard let size = try? file.seek(offset: 0, from: .end), size > state.readUpTo else {
            if let size = try? file.seek(offset: 0, from: .end), size < state.readUpTo { state.readUpTo = 0 }
            return
        }
        let whole = (size - state.readUpTo) / Int64(Self.recordSize) * Int64(Self.recordSize)
        var bytes = [UInt8](repeating: 0, count: Int(whole))
        guard (try? bytes.withUnsafeMutableBytes { try file.read(fromAbsoluteOffset: state.readUpTo, into: $0) }) == Int(whole) else { return }
        for start in stride(from: 0, to: bytes.count, by: Self.recordSize) {
            let record = Array(bytes[start..<start + Self.recordSize])
            guard Self.checksum(Array(record[..<72])) == Array(record[72...]) else { continue }
            let chunk = record[64..<72].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            state.locations[ChunkKey(bytes: Array(record[..<32]))] = Location(rootHash: Array(record[32..<64]), chunk: chunk)
        }
        state.readUpTo += whole
    }

    private func dataFile(of rootHash: [UInt8], _ state: inout State) -> FileDescriptor? {
        if let known = state.dataFiles[rootHash] { return known }
        let file = try? FileDescriptor.open(directory(rootHash.hexString).appending("data"), .readOnly, options: .closeOnExec)
        state.dataFiles[rootHash] = file
        return file
    }

    /// Reads the file the first time, and rewrites it without the records
    /// of caches that are gone when they are most of it.
    private func load(_ state: inout State) {
        guard !state.loaded else { return }
        state.loaded = true
        readNewRecords(&state)
        let gone = Set(state.locations.values.map(\.rootHash)).filter {
            !FileManager.default.fileExists(atPath: directory($0.hexString).appending("meta").string)
        }
        let stale = state.locations.filter { gone.contains($0.value.rootHash) }
        guard !stale.isEmpty, stale.count * 2 > state.locations.count else { return }
        for key in stale.keys { state.locations[key] = nil }
        let bytes = state.locations.flatMap { Self.encode($0.key, $0.value) }
        let temporary = root.appending(".\(Self.fileName).\(getpid())")
        guard let file = try? FileDescriptor.open(
            temporary, .writeOnly, options: [.create, .truncate, .closeOnExec], permissions: [.ownerReadWrite])
        else { return }
        let written = (try? bytes.withUnsafeBytes { try file.writeAll($0) }) == bytes.count
        try? file.close()
        guard written, rename(temporary.string, root.appending(Self.fileName).string) == 0 else {
            unlink(temporary.string)
            return
        }
        state.readUpTo = Int64(bytes.count)
    }
}

/// A chunk's key: the SHA-256 of its blocks' level-0 digests.
struct ChunkKey: Hashable, Sendable {
    let bytes: [UInt8]

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    init(digests: UnsafeRawBufferPointer) {
        bytes = Array(SHA256.hash(data: digests))
    }
}
