import Fetching
import FileCache
import ImageModel
import RemoteImage

/// A boot trace given by `--trace-from`: a file, or an http(s) URL that a
/// fleet published beside the image, so a host's first boot replays a boot
/// recorded elsewhere.
///
/// It is untrusted input: read no further than a trace of this disk can
/// take, decoded and checked (docs/trace-format.md) before any of it is
/// used, and fetched with the image's credentials only from the image's own
/// origin, never where a `--url-command` makes the URL itself the secret.
struct TraceSource {
    let location: String

    /// The trace, for a disk of `diskBytes` read through `image`.
    func load(diskBytes: UInt64, image: ImageSource, remote: RemoteOptions) async throws -> BootTrace {
        let limit = BootTrace.largestEncoding(forDiskBytes: diskBytes)
        let isURL = location.hasPrefix("http://") || location.hasPrefix("https://")
        let bytes = isURL
            ? try await fetch(limit: limit, image: image, remote: remote)
            : try readOptionFile(location, option: "--trace-from", limit: Int64(limit))
        do {
            let trace = try BootTrace(decoding: bytes)
            try trace.check(forDiskBytes: diskBytes)
            return trace
        } catch {
            throw CommandError("--trace-from \(isURL ? ImageURL.redact(location) : location) is not a boot trace of this image: \(error)")
        }
    }

    private func fetch(limit: Int, image: ImageSource, remote: RemoteOptions) async throws -> [UInt8] {
        let url = try ImageURL(location)
        let trace = try await remote.openCompanion(url, of: image)
        let size = trace.identity.size
        guard size <= UInt64(limit) else {
            throw CommandError("--trace-from \(url): it has \(size) bytes; a boot trace of this disk takes at most \(limit)")
        }
        guard size > 0 else { throw CommandError("--trace-from \(url): it is empty") }
        guard trace.servesRanges else {
            return Array(trace.leadingBytes.prefix(Int(size)))
        }
        return try await trace.read(0..<size, for: .fill)
    }
}
