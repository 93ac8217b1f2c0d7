import ArgumentParser
import RemoteImage

/// `lazydisk info URL`: what the server says about an image, and how fast a
/// first byte comes back.
struct InfoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show an image's size, format, validators and range support."
    )

    @OptionGroup var image: ImageArgument

    @Flag(help: "Print one JSON object instead, with the same facts.")
    var json = false

    @OptionGroup var remote: RemoteOptions

    /// The facts `--json` prints.
    private struct Facts: Encodable {
        var url: String
        var finalUrl: String
        var format: String
        var objectSize: UInt64
        var diskSize: UInt64
        var sectorSize: Int
        var diskId: String?
        var etag: String?
        var lastModified: String?
        var rangesAdvertised: Bool
        var httpVersion: String
        var probeMilliseconds: Double
        var credentials: String
    }

    func run() async throws {
        let layer = try await remote.openLayer(try await image.source())
        let image = layer.image
        let identity = image.identity
        if json {
            try printJSON(Facts(
                url: image.url.description, finalUrl: image.pinnedURLDescription, format: layer.format.rawValue,
                objectSize: identity.size, diskSize: layer.sectorCount * UInt64(layer.sectorSize), sectorSize: layer.sectorSize,
                diskId: layer.diskID?.description, etag: identity.etag, lastModified: identity.lastModified,
                rangesAdvertised: image.advertisesRanges, httpVersion: image.httpVersion,
                probeMilliseconds: (image.probeDuration.seconds * 1_000_000).rounded() / 1000, credentials: image.credentialSummary))
            return
        }
        var rows: [(String, String)] = [("url", image.url.description)]
        if image.pinnedURLDescription != image.url.description {
            rows.append(("final url", image.pinnedURLDescription))
        }
        rows += [
            ("format", layer.format.rawValue),
            ("object size", "\(identity.size) bytes"),
            ("disk size", diskSize(of: layer)),
            ("disk id", layer.diskID?.description ?? "none"),
            ("etag", identity.etag ?? "none"),
            ("last modified", identity.lastModified ?? "none"),
            ("ranges", image.advertisesRanges ? "yes (Accept-Ranges: bytes)" : "yes (probed; not advertised)"),
            ("http version", image.httpVersion),
            ("probe read", "\((image.probeDuration.seconds * 1_000_000).rounded() / 1000) ms"),
            ("credentials", image.credentialSummary),
        ]
        printLabeledRows(rows)
    }

    /// The size `cat` and NBD clients see: whole sectors, with the padding
    /// named when the image's data does not fill the last one.
    private func diskSize(of layer: HTTPRangeLayer) -> String {
        let diskBytes = layer.sectorCount * UInt64(layer.sectorSize)
        let sectors = "\(diskBytes) bytes, \(layer.sectorCount) sectors of \(layer.sectorSize) bytes"
        let padding = diskBytes - layer.contentSize
        guard padding > 0 else { return sectors }
        return sectors + " (the image's \(layer.contentSize) bytes, then \(padding) bytes of zeros to fill the last sector)"
    }
}
