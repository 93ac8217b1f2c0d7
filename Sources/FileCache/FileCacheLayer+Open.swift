import SystemPackage

extension FileCacheLayer {
    /// Opens (or creates, or rebuilds) the cache in `directory` for the disk
    /// `header` describes. A cache made for another image, another format
    /// version, or damaged, is replaced; the outcome says which and why.
    public static func open(at directory: FilePath, for header: CacheHeader) throws -> (FileCacheLayer, CacheOpening) {
        try CacheFiles.open(directory, expecting: header)
    }

    /// Opens the cache in `directory` as it is, without knowing the remote
    /// image: for `--offline` and the `cache` commands. Only a use (not a
    /// look, as `cache list` takes) counts as the cache's last use.
    public static func openExisting(at directory: FilePath, countsAsUse: Bool = true) throws -> FileCacheLayer {
        try CacheFiles.openExisting(directory, countsAsUse: countsAsUse)
    }
}
