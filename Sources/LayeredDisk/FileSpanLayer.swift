/// A layer that keeps what it holds in an open file, each byte at its own
/// offset on the disk, and never changes what it stored: a read of sectors
/// it holds whole can be sent straight from that file (see ``FileSpan``).
public protocol FileSpanLayer: ImmediateReadLayer {
    /// The span of `sectors` when the layer holds every one of them now;
    /// nil otherwise. Never waits and reads nothing.
    func fileSpan(of sectors: Range<UInt64>) -> FileSpan?
}
