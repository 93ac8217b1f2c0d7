/// The exports a server offers, found by the name a client asks for.
///
/// One export is a catalog of itself. A catalog may also make exports on
/// demand, one for each name that matches a pattern: lazydisk serves every
/// guest of a host its own overlay over one image that way.
public protocol NBDExportCatalog: Sendable {
    /// The export named `name` for a connection that starts using it
    /// (NBD_OPT_GO, NBD_OPT_EXPORT_NAME), made on the first such ask where
    /// the catalog makes exports; nil when no export has that name. Every
    /// export given out is handed back with ``disconnect(from:)``.
    func connect(to name: String) -> NBDExport?
    /// A connection given `export` by ``connect(to:)`` has ended.
    func disconnect(from export: NBDExport)
    /// What NBD_OPT_INFO says of `name`, without making anything.
    func describe(_ name: String) -> NBDExport?
    /// The names NBD_OPT_LIST shows: the exports that exist.
    var listedNames: [String] { get }
}

extension NBDExport: NBDExportCatalog {
    public func connect(to name: String) -> NBDExport? {
        name == self.name ? self : nil
    }

    public func disconnect(from export: NBDExport) {}

    public func describe(_ name: String) -> NBDExport? {
        connect(to: name)
    }

    public var listedNames: [String] { [name] }
}
