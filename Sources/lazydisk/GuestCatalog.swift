import Glibc
import LayeredDisk
import Metrics
import NBD
import Synchronization

/// The guests of one `serve` whose `--export-name` is a glob: every name a
/// client asks for that matches is a guest of its own, with its own RAM
/// overlay over the image all guests share (one cache, one fetch
/// scheduler), made on its first connection.
///
/// A guest outlives its last connection by `grace`, so a client that
/// reconnects (QEMU's `reconnect-delay`) finds its writes; then its overlay
/// is freed. Each overlay holds at most `overlayLimit` bytes, all of them
/// together what `budget` allows.
final class GuestCatalog: NBDExportCatalog {
    let pattern: String
    private let description: String
    private let disks: GuestDisks
    private let overlayLimit: Int?
    private let budget: MemoryBudget
    private let grace: Duration
    private let verbose: Bool
    private let guests = Mutex<[String: Guest]>([:])
    /// What INFO describes for a name with no guest yet: a guest's size and
    /// flags, made once and never served.
    private let template: NBDExport
    private let live = Meter(label: "lazydisk_guests")
    private let freed = Counter(label: "lazydisk_guests_freed_total")

    private struct Guest {
        let export: NBDExport
        let overlay: RAMLayer?
        var connections = 1
        /// Frees the guest once its grace is over; nil while connected.
        var expiry: Task<Void, Never>?
        /// Which expiry may free the guest: a later disconnect starts a new one.
        var expiryNumber = 0
    }

    init(
        pattern: String, description: String, disks: GuestDisks, overlayLimit: Int?, budget: MemoryBudget, grace: Duration,
        verbose: Bool
    ) throws {
        self.pattern = pattern
        self.description = description
        self.disks = disks
        self.overlayLimit = overlayLimit
        self.budget = budget
        self.grace = grace
        self.verbose = verbose
        let guest = try disks.make(overlayLimit: overlayLimit, budget: budget)
        template = NBDExport(name: "", description: description, disk: guest.disk, allocation: guest.allocation)
    }

    /// Whether `pattern` (a glob) makes guests rather than naming one export.
    static func isGlob(_ pattern: String) -> Bool {
        pattern.contains { "*?[".contains($0) }
    }

    func connect(to name: String) -> NBDExport? {
        guard matches(name) else { return nil }
        let (made, export) = guests.withLock { guests -> (Bool, NBDExport?) in
            if var guest = guests[name] {
                guest.expiry?.cancel()
                guest.expiry = nil
                guest.expiryNumber += 1
                guest.connections += 1
                guests[name] = guest
                return (false, guest.export)
            }
            guard let guest = try? makeGuest(named: name) else { return (false, nil) }
            guests[name] = guest
            return (true, guest.export)
        }
        if made {
            live.increment()
            say("guest '\(name)' made, with an overlay of its own")
        }
        return export
    }

    func disconnect(from export: NBDExport) {
        let name = export.name
        guests.withLock { guests in
            guard var guest = guests[name] else { return }
            guest.connections -= 1
            if guest.connections == 0 {
                guest.expiryNumber += 1
                let number = guest.expiryNumber
                guest.expiry = Task { [weak self, grace] in
                    try? await Task.sleep(for: grace)
                    self?.free(name, expiry: number)
                }
            }
            guests[name] = guest
        }
    }

    func describe(_ name: String) -> NBDExport? {
        guard matches(name) else { return nil }
        return guests.withLock { $0[name]?.export } ?? NBDExport(
            name: name, description: template.description, disk: template.disk, allocation: template.allocation)
    }

    var listedNames: [String] {
        guests.withLock { $0.keys.sorted() }
    }

    private func matches(_ name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }

    /// Frees the guest `name` unless a client connected again since its
    /// expiry number `expiry` began.
    private func free(_ name: String, expiry: Int) {
        let overlayBytes: Int? = guests.withLock { guests in
            guard let guest = guests[name], guest.connections == 0, guest.expiryNumber == expiry else { return nil }
            guests[name] = nil
            return guest.overlay?.allocatedBytes ?? 0
        }
        guard let overlayBytes else { return }
        live.decrement()
        freed.increment()
        say("guest '\(name)' freed after \(grace) without a connection (its overlay held \(ByteFormat.size(UInt64(overlayBytes))))")
    }

    private func makeGuest(named name: String) throws -> Guest {
        let disk = try disks.make(overlayLimit: overlayLimit, budget: budget)
        let export = NBDExport(name: name, description: "\(description), guest \(name)", disk: disk.disk, allocation: disk.allocation)
        return Guest(export: export, overlay: disk.overlay)
    }

    private func say(_ line: String) {
        if verbose {
            StandardStream.error.writeLine("lazydisk: " + line)
        }
    }
}
