/// Why a RAM layer could not be attached.
public enum RAMLayerError: Error, CustomStringConvertible {
    /// A RAM layer sized from the layer below was placed at the bottom.
    case nothingToSizeFrom

    public var description: String {
        "a RAM layer sized from the layer below cannot be the bottom layer"
    }
}
