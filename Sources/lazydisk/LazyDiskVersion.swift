/// The version `lazydisk --version` prints.
enum LazyDiskVersion {
    static let current = "0.1.0"
}
