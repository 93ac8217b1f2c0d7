import HTTPTestServers
import ImageModel
import LayeredDisk
import RemoteImage
import Testing

@Suite("HTTP range layer")
struct HTTPRangeLayerTests {
    private func disk(serving content: [UInt8], format: ImageFormat? = nil) async throws -> (LayeredDisk, HTTPRangeLayer, FaultServer) {
        let server = try await FaultServer.start(content: content)
        let layer = try await HTTPRangeLayer.open(openImage(server.url), format: format)
        let disk = try await LayeredDisk(readOnly: true, layers: [LayerConfiguration(layer)])
        return (disk, layer, server)
    }

    @Test func layerProperties() async throws {
        let (disk, layer, _) = try await disk(serving: testBytes(count: 8192))
        #expect(layer.format == .raw)
        #expect(disk.sectorSize == 512)
        #expect(disk.physicalSectorSize == 4096)
        #expect(disk.sectorCount == 16)
        #expect(layer.isLogicallyReadOnly)
        await #expect(throws: DiskError.readOnly) { try await layer.write([0][...], at: 0, fua: false) }
    }

    /// A raw size that is not whole sectors is rounded up: the tail reads as
    /// zeros, and no request asks past the object's end.
    @Test func partialLastSectorIsPaddedWithZeros() async throws {
        let content = testBytes(count: 1000)
        let (disk, _, server) = try await disk(serving: content)
        #expect(disk.sectorCount == 2)
        let bytes = try await disk.read(at: 0, count: 2)
        #expect(Array(bytes[..<1000]) == content)
        #expect(bytes[1000...].allSatisfy { $0 == 0 })
        #expect(server.requests.last?.range == "bytes=0-999")
    }

    @Test func fixedVHDExposesItsDiskAndHidesTheFooter() async throws {
        let data = testBytes(count: 64 * 1024)
        let (disk, layer, _) = try await disk(serving: data + VHDBuilder.footer(currentSize: UInt64(data.count)))
        #expect(layer.format == .vhd)
        #expect(disk.sectorCount == 128)
        #expect(disk.diskID == DiskID(bytes: VHDBuilder.uniqueID))
        #expect(try await disk.read(at: 0, count: 128) == data)
        await #expect(throws: DiskError.outOfRange(sector: 128, count: 1, sectorCount: 128)) {
            try await disk.read(at: 128, count: 1)
        }
    }

    /// What detection reads goes out beside the open's probe: both reads
    /// arrive while the probe's answer is held, and opening the layer then
    /// asks the server nothing more.
    @Test(.timeLimit(.minutes(5))) func detectionReadsGoOutBesideTheProbe() async throws {
        let data = testBytes(count: 64 * 1024)
        let server = try await FaultServer.start(content: data + VHDBuilder.footer(currentSize: UInt64(data.count)), fault: .probeHeldUntilReleased)
        let opening = Task { try await openImage(server.url, reading: HTTPRangeLayer.edgesToDetect(nil)) }
        let detectionReads: Set = ["bytes=0-511", "bytes=-512"]
        while !detectionReads.isSubset(of: server.requests.compactMap(\.range)) {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(server.requests.count == 4)
        server.releaseHeld()
        let image = try await opening.value
        let layer = try await HTTPRangeLayer.open(image)
        #expect(server.requests.count == 4)
        #expect(layer.format == ImageFormat.vhd)
        let disk = try await LayeredDisk(readOnly: true, layers: [LayerConfiguration(layer)])
        #expect(try await disk.read(at: 0, count: 128) == data)
    }

    /// Opening is one round trip: the probe's GET and detection's reads go
    /// out while HEAD's answer is held, and once it comes nothing more is
    /// asked before the layer knows its format.
    @Test(.timeLimit(.minutes(5))) func openingTakesOneRoundTrip() async throws {
        let data = testBytes(count: 64 * 1024)
        let server = try await FaultServer.start(content: data + VHDBuilder.footer(currentSize: UInt64(data.count)), fault: .headHeldUntilReleased)
        let opening = Task { try await openImage(server.url, reading: HTTPRangeLayer.edgesToDetect(nil)) }
        let sentBesideHead: Set = ["bytes=0-0", "bytes=0-511", "bytes=-512"]
        while !sentBesideHead.isSubset(of: server.requests.compactMap(\.range)) {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(server.requests.count == 4)
        server.releaseHeld()
        let layer = try await HTTPRangeLayer.open(try await opening.value)
        #expect(server.requests.count == 4, "\(server.requests.map { "\($0.method) \($0.range ?? "") \($0.status)" })")
        #expect(layer.format == ImageFormat.vhd)
        #expect(layer.contentSize == UInt64(data.count))
    }

    /// A layer whose format is given reads nothing beside the probe.
    @Test func aGivenFormatReadsNothingBesideTheProbe() async throws {
        let server = try await FaultServer.start(content: testBytes(count: 8192))
        let image = try await openImage(server.url, reading: HTTPRangeLayer.edgesToDetect(.raw))
        _ = try await HTTPRangeLayer.open(image, format: .raw)
        #expect(Set(server.requests.map(\.range)) == [nil, "bytes=0-0"])
        #expect(server.requests.count == 2)
    }

    @Test func corruptVHDFooterIsAnError() async throws {
        let data = testBytes(count: 4096)
        let server = try await FaultServer.start(content: data + VHDBuilder.footer(currentSize: 4096, corruptChecksum: true))
        let image = try await openImage(server.url)
        await #expect(throws: VHDFooterError.self) { try await HTTPRangeLayer.open(image) }
        #expect(try await HTTPRangeLayer.open(image, format: .raw).sectorCount == 9)
    }

    @Test func vhdClaimingMoreThanTheFileIsAnError() async throws {
        let server = try await FaultServer.start(content: testBytes(count: 4096) + VHDBuilder.footer(currentSize: 1 << 30))
        let image = try await openImage(server.url)
        await #expect(throws: VHDFooterError.sizeBeyondFile(currentSize: 1 << 30, dataSize: 4096)) {
            try await HTTPRangeLayer.open(image)
        }
    }
}
