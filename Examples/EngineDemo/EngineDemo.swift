import Foundation
import LayeredDisk

/// A tour of the layered disk engine on a local image: the stack `lazydisk
/// serve` builds (RAM overlay over read cache over image), with the HTTP layer
/// replaced by the image file held in memory.
@main
struct EngineDemo {
    static func main() async throws {
        guard CommandLine.arguments.count == 2 else {
            FileHandle.standardError.write(Data("usage: lazydisk-engine-demo IMAGE\n".utf8))
            exit(2)
        }
        let path = CommandLine.arguments[1]
        let image = try InMemoryDisk(bytes: Array(Data(contentsOf: URL(fileURLWithPath: path))), readOnly: true)
        let cache = RAMLayer(sectorCount: image.sectorCount)
        let overlay = RAMLayer(sectorCount: image.sectorCount)
        let disk = try await LayeredDisk(readOnly: false, layers: [
            LayerConfiguration(overlay),
            LayerConfiguration(cache, readCache: true),
            LayerConfiguration(BlockDeviceLayer(image)),
        ])
        show("image", "\(path): \(image.sectorCount) sectors of \(image.sectorSize) bytes")
        show("stack", "RAM overlay -> read cache -> image (read-only)")

        show("read 0", try await firstLine(of: disk.read(at: 0, count: 1)))
        show("cache", "\(cache.presentSectorCount) of \(cache.sectorCount) sectors cached")
        _ = try await disk.read(at: 0, count: 16)
        show("read 0..<16", "the cache kept what came from the image")
        show("cache", "\(cache.presentSectorCount) of \(cache.sectorCount) sectors cached")

        var sector = Array("written by the guest\n".utf8)
        sector += Array(repeating: 0, count: disk.sectorSize - sector.count)
        try await disk.write(sector[...], at: 3, fua: false)
        show("write 3", "went to the overlay (\(overlay.presentSectorCount) sector held in RAM)")
        show("read 3", try await firstLine(of: disk.read(at: 3, count: 1)))
        show("image 3", try await firstLine(of: image.read(at: 3, count: 1)))

        do {
            _ = try await disk.read(at: image.sectorCount, count: 1)
        } catch {
            show("read past end", "refused: \(error)")
        }
    }

    private static func firstLine(of sector: [UInt8]) -> String {
        "\"" + String(decoding: sector.prefix { $0 != 0 && $0 != 10 }, as: UTF8.self) + "\""
    }

    private static func show(_ label: String, _ text: String) {
        print(label.padding(toLength: 14, withPad: " ", startingAt: 0) + text)
    }
}
