import LayeredDisk
import Testing

@Suite("Stack validation")
struct LayeredDiskValidationTests {
    private func build(readOnly: Bool = false, _ layers: [LayerConfiguration]) async -> LayeredDiskError? {
        do {
            _ = try await LayeredDisk(readOnly: readOnly, layers: layers)
            return nil
        } catch {
            return error
        }
    }

    private static func ram(_ sectors: UInt64 = 64, sectorSize: Int = 512) -> RAMLayer {
        RAMLayer(sectorCount: sectors, sectorSize: sectorSize)
    }

    private static func image() -> BlockDeviceLayer {
        BlockDeviceLayer(InMemoryDisk(sectorCount: 64, readOnly: true))
    }

    @Test func noLayers() async {
        guard case .noLayers = await build([]) else { Issue.record("expected noLayers"); return }
    }

    @Test func attachFailureNamesTheLayer() async {
        let error = await build(readOnly: true, [LayerConfiguration(RAMLayer.sizedToLowerLayer)])
        guard case let .attachFailed(layer, underlying) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(layer == 0)
        #expect(underlying is RAMLayerError)
    }

    @Test func readCacheNeedsWriteNoOverwrite() async {
        let error = await build(readOnly: true, [
            LayerConfiguration(Self.ram()),
            LayerConfiguration(Self.image(), readCache: true),
            LayerConfiguration(Self.image()),
        ])
        guard case let .readCacheNotSupported(layer) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(layer == 1)
    }

    @Test(arguments: [0, 500, 513, -512])
    func sectorSizeMustBeAPowerOfTwo(sectorSize: Int) async {
        let error = await build([LayerConfiguration(ProbeLayer(.init(sectorSize: sectorSize)))])
        guard case let .invalidSectorSize(layer, found) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(layer == 0)
        #expect(found == sectorSize)
    }

    @Test func sectorSizesMustMatchTheBottomLayer() async {
        let error = await build(readOnly: true, [
            LayerConfiguration(Self.ram(sectorSize: 4096)),
            LayerConfiguration(Self.ram()),
            LayerConfiguration(Self.image()),
        ])
        guard case let .mismatchedSectorSize(layer, expected, found) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(layer == 0)
        #expect(expected == 512)
        #expect(found == 4096)
    }

    @Test func bottomLayerCannotWriteThrough() async {
        let error = await build([LayerConfiguration(Self.ram(), writeThrough: true)])
        guard case let .uselessWriteThrough(layer) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(layer == 0)
    }

    @Test func writeThroughBelowTheWritePathIsUseless() async {
        let error = await build([
            LayerConfiguration(Self.ram()),
            LayerConfiguration(Self.ram(), writeThrough: true),
            LayerConfiguration(Self.ram()),
        ])
        guard case let .uselessWriteThrough(layer) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(layer == 1)
    }

    @Test func writableDiskRefusesReadOnlyLayerOnTheWritePath() async {
        let topError = await build([LayerConfiguration(Self.image())])
        guard case .readOnlyLayerOnWritePath(layer: 0) = topError else { Issue.record("got \(String(describing: topError))"); return }

        let belowWriteThrough = await build([
            LayerConfiguration(Self.ram(), writeThrough: true),
            LayerConfiguration(Self.image()),
        ])
        guard case .readOnlyLayerOnWritePath(layer: 1) = belowWriteThrough else {
            Issue.record("got \(String(describing: belowWriteThrough))")
            return
        }
    }

    @Test func readOnlyDiskAcceptsReadOnlyLayers() async {
        #expect(await build(readOnly: true, [LayerConfiguration(Self.image())]) == nil)
    }

    @Test func errorsDescribeTheLayer() {
        let error = LayeredDiskError.mismatchedSectorSize(layer: 2, expected: 512, found: 4096)
        #expect(error.layerIndex == 2)
        #expect(error.description == "layer 2: sector size 4096 does not match the bottom layer's 512")
        #expect(LayeredDiskError.noLayers.layerIndex == nil)
    }
}
