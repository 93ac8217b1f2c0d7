import Synchronization

/// The fault server's object and bookkeeping, shared by its connections.
final class FaultState: Sendable {
    struct Object {
        var content: [UInt8]
        var generation: Int
        var etag: String { "\"object-\(generation)\"" }
        var lastModified: String { "Wed, 0\(generation % 10) Jan 2025 00:00:00 GMT" }
    }

    private struct Books {
        var object: Object
        var faultyGETsLeft: Int
        var log: [FaultServer.LoggedRequest] = []
        var linksIssued = 0
        var oldestValidLink = 1
        /// Answers waiting for ``releaseHeld()``; nil once released.
        var held: [@Sendable () -> Void]? = []
    }

    let fault: FaultServer.Fault
    private let books: Mutex<Books>

    init(content: [UInt8], fault: FaultServer.Fault) {
        self.fault = fault
        let times = switch fault {
        case let .shortBody(times), let .disconnectMidBody(times), let .serverError(times), let .tooManyRequests(times, _),
             let .ignoresRangeCuttingDownloads(times): times
        default: Int.max
        }
        books = Mutex(Books(object: Object(content: content, generation: 1), faultyGETsLeft: times))
    }

    var object: Object { books.withLock(\.object) }
    var log: [FaultServer.LoggedRequest] { books.withLock(\.log) }

    func record(_ request: FaultServer.LoggedRequest) {
        books.withLock { $0.log.append(request) }
    }

    /// Whether this GET gets the fault; counts it down. The open probe
    /// (`bytes=0-0`) is spared, so faults land on reads.
    func takeFaultyGET(range: ClosedRange<Int>) -> Bool {
        guard range != 0...0 else { return false }
        return books.withLock { books in
            guard books.faultyGETsLeft > 0 else { return false }
            books.faultyGETsLeft -= 1
            return true
        }
    }

    /// Keeps `deliver` until ``releaseHeld()``; false (and nothing kept)
    /// once that has happened.
    func hold(_ deliver: @escaping @Sendable () -> Void) -> Bool {
        books.withLock { books in
            books.held?.append(deliver)
            return books.held != nil
        }
    }

    func releaseHeld() {
        let held = books.withLock { books in
            defer { books.held = nil }
            return books.held ?? []
        }
        held.forEach { $0() }
    }

    func replace(_ content: [UInt8]) {
        books.withLock { $0.object = Object(content: content, generation: $0.object.generation + 1) }
    }

    func issueLink() -> Int {
        books.withLock { books in
            books.linksIssued += 1
            return books.linksIssued
        }
    }

    func isValidLink(_ link: Int) -> Bool {
        books.withLock { link >= $0.oldestValidLink && link <= $0.linksIssued }
    }

    func expireLinks() {
        books.withLock { $0.oldestValidLink = $0.linksIssued + 1 }
    }
}
