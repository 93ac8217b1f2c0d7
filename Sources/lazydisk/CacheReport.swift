import FileCache
import Foundation
import SystemPackage

/// Coverage figures and the terminal coverage map for `cache` commands.
enum CacheReport {
    /// Bytes of the disk the cache holds.
    static func cachedBytes(_ cache: FileCacheLayer) -> UInt64 {
        min(UInt64(cache.presentChunkCount) * UInt64(cache.header.chunkSize), cache.header.diskSize)
    }

    static func coverage(_ cache: FileCacheLayer) -> String {
        let percent = cache.chunkCount == 0 ? 100 : Double(cache.presentChunkCount) * 100 / Double(cache.chunkCount)
        let bytes = cachedBytes(cache)
        return "\(ByteFormat.rounded(percent))% (\(ByteFormat.size(bytes)) of \(ByteFormat.size(cache.header.diskSize)))"
    }

    /// Bytes the file actually occupies; the data file is sparse.
    static func allocatedBytes(of path: FilePath) -> UInt64 {
        var status = stat()
        guard stat(path.string, &status) == 0 else { return 0 }
        return UInt64(status.st_blocks) * 512
    }

    /// The disk as rows of cells, each a run of chunks: `#` all cached,
    /// `+` some, `.` none.
    static func map(_ cache: FileCacheLayer, columns: Int = 64, rows: Int = 8) -> String {
        let cells = min(columns * rows, max(cache.chunkCount, 1))
        let perCell = Double(cache.chunkCount) / Double(cells)
        var map = ""
        for cell in 0..<cells {
            let chunks = Int(Double(cell) * perCell)..<max(Int(Double(cell + 1) * perCell), Int(Double(cell) * perCell) + 1)
            let present = chunks.filter(cache.isPresent).count
            map += present == chunks.count ? "#" : present == 0 ? "." : "+"
            if (cell + 1) % columns == 0 && cell + 1 < cells {
                map += "\n"
            }
        }
        return map + "\n# cached  + partly cached  . not cached"
    }
}
