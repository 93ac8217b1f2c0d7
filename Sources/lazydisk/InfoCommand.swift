import ArgumentParser
import ImageModel
import LayeredDisk
import Qcow2
import RemoteImage
import Verity

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
        /// False for a server that sends the whole object to a range request.
        var rangesServed: Bool
        var httpVersion: String
        var probeMilliseconds: Double
        var credentials: String
        var qcow2: Qcow2Facts?
        var verity: VerityFacts?
        var notice: String?
    }

    /// The hash tree every byte is checked against (`--root-hash`).
    private struct VerityFacts: Encodable {
        var rootHash: String
        var dataBlocks: UInt64
        var dataBlockSize: Int
        var levels: Int
        var salt: String
    }

    /// What a qcow2 image's header says.
    private struct Qcow2Facts: Encodable {
        var version: UInt32
        var virtualSize: UInt64
        var clusterSize: Int
        var compression: String
    }

    func run() async throws {
        let layer = try await remote.openLayer(try await image.source(commandTimeLimit: remote.commandTimeLimit))
        let image = layer.image
        let identity = image.identity
        let qcow2 = try await qcow2Facts(of: layer)
        let verity = layer.hashTree.map { tree in
            VerityFacts(
                rootHash: tree.rootHash.hexString, dataBlocks: tree.geometry.dataBlocks, dataBlockSize: tree.geometry.dataBlockSize,
                levels: tree.geometry.levels, salt: tree.superblock.salt.isEmpty ? "-" : tree.superblock.salt.hexString)
        }
        if json {
            try printJSON(Facts(
                url: image.url.description, finalUrl: image.pinnedURLDescription, format: layer.format.rawValue,
                objectSize: identity.size, diskSize: qcow2?.virtualSize ?? layer.sectorCount * UInt64(layer.sectorSize), sectorSize: layer.sectorSize,
                diskId: layer.diskID?.description, etag: identity.etag, lastModified: identity.lastModified,
                rangesAdvertised: image.advertisesRanges, rangesServed: image.servesRanges, httpVersion: image.httpVersion,
                probeMilliseconds: (image.probeDuration.seconds * 1_000_000).rounded() / 1000, credentials: image.credentialSummary,
                qcow2: qcow2, verity: verity, notice: layer.notice))
            return
        }
        var rows: [(String, String)] = [("url", image.url.description)]
        if image.pinnedURLDescription != image.url.description {
            rows.append(("final url", image.pinnedURLDescription))
        }
        rows += [
            ("format", layer.format.rawValue),
            ("object size", "\(identity.size) bytes"),
            ("disk size", qcow2.map { "\($0.virtualSize) bytes (the qcow2 image's virtual disk)" } ?? diskSize(of: layer)),
            ("disk id", layer.diskID?.description ?? "none"),
            ("etag", identity.etag ?? "none"),
            ("last modified", identity.lastModified ?? "none"),
            ("ranges", !image.servesRanges ? "no: the server sends the whole object; read by one streamed download into the cache"
                : image.advertisesRanges ? "yes (Accept-Ranges: bytes)" : "yes (probed; not advertised)"),
            ("http version", image.httpVersion),
            ("probe read", "\((image.probeDuration.seconds * 1_000_000).rounded() / 1000) ms"),
            ("credentials", image.credentialSummary),
        ]
        if let qcow2 {
            rows += [
                ("qcow2 version", "\(qcow2.version)"),
                ("cluster size", "\(qcow2.clusterSize) bytes"),
                ("compression", qcow2.compression),
            ]
        }
        if let verity {
            rows += [
                ("root hash", verity.rootHash),
                // A tree that does not cover the image exactly is refused before this.
                ("hash tree", "covers the image's \(identity.size) bytes: \(verity.dataBlocks) blocks of \(verity.dataBlockSize), "
                    + "\(verity.levels) level(s), salt \(verity.salt)"),
            ]
        }
        if let notice = layer.notice {
            rows.append(("note", notice))
        }
        printLabeledRows(rows)
    }

    /// The header of a qcow2 image, read (and checked) as `serve` would.
    private func qcow2Facts(of layer: HTTPRangeLayer) async throws -> Qcow2Facts? {
        guard layer.format == .qcow2 else { return nil }
        // A server without ranges gives only the object's first bytes
        // before its one download: the header is read from those.
        let header = layer.image.servesRanges
            ? try await Qcow2Disk(file: try await LayeredDisk(readOnly: true, layers: [LayerConfiguration(layer)])).header
            : try Qcow2Header(layer.image.leadingBytes, fileSize: layer.image.identity.size)
        return Qcow2Facts(
            version: header.version, virtualSize: header.size, clusterSize: header.clusterSize,
            compression: "\(header.compression.rawValue) (compressed clusters are inflated as they are read)")
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
