import ImageModel
import LayeredDisk
import Qcow2

/// Makes the disk a guest sees over the layers that hold the image's bytes,
/// which every guest of a `serve` shares: one cache, one fetch scheduler,
/// one decoded qcow2. A guest's own part is a RAM overlay for its writes
/// and the stack around it, made without waiting (in a client's handshake);
/// it costs a few KiB until the guest writes.
struct GuestDisks: Sendable {
    private let base: Base

    private enum Base {
        /// A raw image: the file's layers go under each guest's overlay,
        /// each guest's reads shown to `observers` (readahead, the trace).
        case raw(file: [LayerConfiguration], observers: [any ReadObserver], sectorCount: UInt64, sectorSize: Int)
        /// A qcow2 image, decoded once over its observed file.
        case qcow2(Qcow2Disk)
    }

    /// `file` are the layers that hold the image file's bytes, attached
    /// already; `observers` see the file's reads, so readahead and the boot
    /// trace follow the file's offsets, which is what is fetched and cached.
    init(format: ImageFormat, file: [LayerConfiguration], observers: [any ReadObserver]) async throws {
        let fileDisk = try LayeredDisk(readOnly: true, attachedLayers: file)
        guard format == .qcow2 else {
            base = .raw(file: file, observers: observers, sectorCount: fileDisk.sectorCount, sectorSize: fileDisk.sectorSize)
            return
        }
        base = .qcow2(try await Qcow2Disk(file: ObservedDisk(fileDisk, observers: observers)))
    }

    /// Whether a disk byte is the image file's byte at the same offset (a
    /// raw image), so a range of the disk is a range of the cache.
    var readsFileOffsets: Bool {
        if case .raw = base { return true }
        return false
    }

    /// A guest's disk: with an `overlayLimit`, a RAM overlay on top takes up
    /// to that many bytes of its writes (and, with a `budget`, what the
    /// budget has left); without one the disk is read-only.
    func make(overlayLimit: Int?, budget: MemoryBudget? = nil) throws -> GuestDisk {
        switch base {
        case let .raw(file, observers, sectorCount, sectorSize):
            let overlay = overlayLimit.map { RAMLayer(sectorCount: sectorCount, sectorSize: sectorSize, limitBytes: $0, budget: budget) }
            let layers = (overlay.map { [LayerConfiguration($0)] } ?? []) + file
            let disk = ObservedDisk(try LayeredDisk(readOnly: overlay == nil, attachedLayers: layers), observers: observers)
            return GuestDisk(disk: disk, allocation: nil, overlay: overlay)
        case let .qcow2(image):
            guard let overlayLimit else { return GuestDisk(disk: image, allocation: image, overlay: nil) }
            let overlay = RAMLayer(sectorCount: image.sectorCount, sectorSize: image.sectorSize, limitBytes: overlayLimit, budget: budget)
            let disk = try LayeredDisk(readOnly: false, attachedLayers: [LayerConfiguration(overlay), LayerConfiguration(BlockDeviceLayer(image))])
            return GuestDisk(disk: disk, allocation: OverlaidAllocation(overlay: overlay, below: image), overlay: overlay)
        }
    }
}

/// One guest's disk, its allocation map when it has one (a qcow2 image;
/// what the overlay holds counts as data), and its overlay when writable.
struct GuestDisk: Sendable {
    let disk: any BlockDevice
    let allocation: (any AllocationMap)?
    let overlay: RAMLayer?
}
