import FileCache

/// Coverage figures and the terminal coverage map for `cache` commands.
enum CacheReport {
    static func coverage(_ cache: FileCacheLayer) -> String {
        let percent = cache.chunkCount == 0 ? 100 : Double(cache.presentChunkCount) * 100 / Double(cache.chunkCount)
        return "\(ByteFormat.rounded(percent))% (\(ByteFormat.size(cache.presentBytes)) of \(ByteFormat.size(cache.header.diskSize)))"
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
