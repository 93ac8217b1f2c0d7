/// Something that becomes a ``DiskLayer`` once it knows what it sits on.
///
/// Layers attach bottom-up, and each receives the metadata of the layer below,
/// so a layer can size itself from it (a RAM overlay the size of the image
/// under it). Every ``DiskLayer`` attaches as itself.
public protocol AttachableLayer: Sendable {
    /// Produces the layer; `lower` is `nil` for the bottom layer.
    func attach(above lower: LayerMetadata?) async throws -> any DiskLayer
}
