import LayeredDisk

/// The one export a server offers: a block device, its name and description.
public struct NBDExport: Sendable {
    public var name: String
    public var description: String
    public var disk: any BlockDevice
    /// Where the disk's holes and zeros are, for BLOCK_STATUS; without one,
    /// everything is reported as data.
    public var allocation: (any AllocationMap)?

    public init(name: String = "", description: String, disk: any BlockDevice, allocation: (any AllocationMap)? = nil) {
        self.name = name
        self.description = description
        self.disk = disk
        self.allocation = allocation
    }

    var size: UInt64 { disk.sectorCount * UInt64(disk.sectorSize) }

    /// What the export supports. Every connection shares the one disk (and
    /// its RAM overlay), and flush covers every completed write, so several
    /// connections are safe together: CAN_MULTI_CONN.
    func transmissionFlags(structuredReplies: Bool) -> UInt16 {
        var flags: NBDTransmissionFlags = [.hasFlags, .sendFlush, .sendFUA, .canMultiConn, .sendCache]
        if disk.isReadOnly {
            flags.insert(.readOnly)
        } else {
            flags.formUnion([.sendTrim, .sendWriteZeroes])
        }
        if structuredReplies {
            flags.insert(.sendDF)
        }
        return flags.rawValue
    }
}
