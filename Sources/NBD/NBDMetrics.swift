import CoreMetrics
import LayeredDisk

/// What an NBD server counts through swift-metrics: connections, the guest's
/// requests and bytes, and failed requests by cause. The handles are made
/// once, so counting a request costs no lookup. Without a metrics backend
/// bootstrapped they do nothing.
struct NBDMetrics: Sendable {
    private let openConnections = Meter(label: "lazydisk_nbd_connections")
    private let acceptedConnections = Counter(label: "lazydisk_nbd_connections_total")
    private let requests: [NBDCommand: Counter]
    private let bytesRead = Counter(label: "lazydisk_guest_read_bytes_total")
    private let bytesWritten = Counter(label: "lazydisk_guest_written_bytes_total")
    private let failures: [FailureCause: Counter]

    init() {
        requests = Dictionary(uniqueKeysWithValues: NBDCommand.allCases.map { command in
            (command, Counter(label: "lazydisk_guest_requests_total", dimensions: [("command", command.label)]))
        })
        failures = Dictionary(uniqueKeysWithValues: FailureCause.allCases.map { cause in
            (cause, Counter(label: "lazydisk_guest_request_failures_total", dimensions: [("cause", cause.rawValue)]))
        })
    }

    func connectionOpened() {
        acceptedConnections.increment()
        openConnections.increment()
    }

    func connectionClosed() {
        openConnections.decrement()
    }

    /// A request the server took up, whether it succeeds or not.
    func received(_ command: NBDCommand) {
        requests[command]?.increment()
    }

    /// A request that succeeded: its bytes count as read or written.
    func succeeded(_ command: NBDCommand, length: UInt32) {
        switch command {
        case .read: bytesRead.increment(by: Int64(length))
        case .write, .writeZeroes: bytesWritten.increment(by: Int64(length))
        default: break
        }
    }

    func failed(_ cause: FailureCause) {
        failures[cause]?.increment()
    }
}
