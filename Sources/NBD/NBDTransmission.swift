import LayeredDisk
import NIOCore

/// Carries out transmission-phase requests against the export's disk and
/// says what to send back. Requests are independent, so a connection runs
/// many at once and sends each reply when it is ready.
///
/// A class, not a struct: every request's task holds it, and a struct of
/// four references cost four retains and four releases a request.
final class NBDTransmission: Sendable {
    let disk: any BlockDevice
    let allocation: (any AllocationMap)?
    let structuredReplies: Bool
    let baseAllocation: Bool
    let metrics: NBDMetrics
    let events: (any NBDServerEvents)?

    init(
        disk: any BlockDevice, allocation: (any AllocationMap)?, structuredReplies: Bool, baseAllocation: Bool, metrics: NBDMetrics,
        events: (any NBDServerEvents)?
    ) {
        self.disk = disk
        self.allocation = allocation
        self.structuredReplies = structuredReplies
        self.baseAllocation = baseAllocation
        self.metrics = metrics
        self.events = events
    }

    /// The reply to `request`; none to NBD_CMD_DISC.
    func reply(to request: NBDRequest) async -> OutgoingReply? {
        let flags = NBDCommandFlags(rawValue: request.flags)
        guard flags.isSubset(of: .known) else { return failure(.invalid, request, "unknown command flags") }
        guard let command = request.command else { return failure(.invalid, request, "unknown command \(request.type)") }
        metrics.received(command)
        let range = exportRange(of: request)
        do {
            switch command {
            case .read:
                guard let range = readRange(of: request) else {
                    return failure(.invalid, request, "read outside the export or too large")
                }
                // A large read that waited is sent from the cache's file too.
                var data = SpanTakingDestination(
                    ReplyData(length: Int(request.length)), takingFileSpans: request.length >= Self.smallestFileReply)
                try await disk.readBytes(range, into: &data)
                metrics.succeeded(.read, length: request.length)
                if let span = data.span {
                    return OutgoingReply(cookie: request.cookie, offset: request.offset, span: span, isStructured: structuredReplies)
                }
                return reply(request, .data(offset: request.offset, bytes: .byteBuffer(data.buffer.bytes)))
            case .write:
                guard !disk.isReadOnly else { return failure(.permission, request, "the export is read-only") }
                guard range != nil else { return failure(.noSpace, request, "write past the end of the export") }
                try await disk.writeBytes(ArraySlice(request.payload?.readableBytesView ?? ByteBuffer().readableBytesView),
                                          at: request.offset, fua: flags.contains(.fua))
            case .writeZeroes:
                guard !disk.isReadOnly else { return failure(.permission, request, "the export is read-only") }
                guard range != nil else { return failure(.noSpace, request, "write past the end of the export") }
                try await disk.writeBytes(ArraySlice(repeating: 0, count: Int(request.length)), at: request.offset,
                                          fua: flags.contains(.fua))
            case .trim:
                guard !disk.isReadOnly else { return failure(.permission, request, "the export is read-only") }
                guard let range else { return failure(.invalid, request, "trim outside the export") }
                try await trim(range)
            case .flush:
                try await disk.flush()
            case .cache:
                guard let range else { return failure(.invalid, request, "cache outside the export") }
                try await prefetch(range)
            case .blockStatus:
                guard structuredReplies, baseAllocation else {
                    return failure(.invalid, request, "block status needs structured replies and base:allocation")
                }
                guard let range, request.length > 0 else { return failure(.invalid, request, "block status outside the export") }
                return try await blockStatus(request, range: range)
            case .disconnect:
                return nil
            }
            metrics.succeeded(command, length: request.length)
            return reply(request, .done)
        } catch {
            return failure(request, error)
        }
    }

    /// The reply to a READ the disk can serve without waiting, or `nil`: for
    /// any other request, or a read that must wait or fails, ask
    /// ``bring(_:then:)`` or ``reply(to:)``, which also says what was wrong.
    /// A read that must wait leaves its reply buffer in `unused`, for the
    /// bytes it waits for.
    func immediateReply(to request: NBDRequest, leaving unused: inout ReplyData?) -> OutgoingReply? {
        guard let range = answerableRead(request) else { return nil }
        var data = ReplyData(length: Int(request.length))
        guard (try? data.withUnsafeMutableBytes({ try disk.readBytesImmediately(range, into: $0) })) == true else {
            unused = data
            return nil
        }
        metrics.received(.read)
        metrics.succeeded(.read, length: request.length)
        return reply(request, .data(offset: request.offset, bytes: .byteBuffer(data.bytes)))
    }

    /// Starts `read`, which the disk could not answer at once, with no task,
    /// when it lacks only what the disk's cache filler brings: `ready` is
    /// called once (see ``BlockDevice/readImmediately(at:count:into:orBring:)``),
    /// and ``reply(to:after:)`` then answers it. False for any other read,
    /// which ``reply(to:)`` answers; a read large enough to be sent from the
    /// cache's file is one, so the bytes it waits for are not copied.
    func bring(_ read: BroughtRead, then ready: @escaping @Sendable (Result<Void, any Error>) -> Void) -> Bool {
        guard read.request.length < Self.smallestFileReply, let range = answerableRead(read.request) else { return false }
        let attempt = try? read.data.withUnsafeMutableBytes { try disk.readBytesImmediately(range, into: $0, orBring: ready) }
        guard case let .bringing(pending) = attempt else { return false }
        read.pending = pending
        return true
    }

    /// The reply to a read ``bring(_:then:)`` started, once its `ready` was
    /// called with `outcome`; nil when its bytes are not all in the cache
    /// after all, and ``reply(to:)`` answers it.
    func reply(to read: BroughtRead, after outcome: Result<Void, any Error>) -> OutgoingReply? {
        let request = read.request
        do {
            try outcome.get()
            guard let pending = read.pending, try read.data.withUnsafeMutableBytes({ try pending.read(into: $0) }) else { return nil }
        } catch {
            metrics.received(.read)
            return failure(request, error)
        }
        metrics.received(.read)
        metrics.succeeded(.read, length: request.length)
        return reply(request, .data(offset: request.offset, bytes: .byteBuffer(read.data.bytes)))
    }

    /// The reply to a READ the disk can send straight from a file, whose
    /// ``OutgoingReply/written()`` the caller calls once it is written; `nil`
    /// for any other request (ask ``immediateReply(to:leaving:)``).
    func fileReply(to request: NBDRequest) -> OutgoingReply? {
        guard request.length >= Self.smallestFileReply, let range = answerableRead(request), let span = disk.fileSpan(of: range) else {
            return nil
        }
        metrics.received(.read)
        metrics.succeeded(.read, length: request.length)
        return OutgoingReply(cookie: request.cookie, offset: request.offset, span: span, isStructured: structuredReplies)
    }

    /// The smallest READ sent from a file. A file reply costs a `sendfile`
    /// of its own, where replies in buffers share one `writev`; warm random
    /// reads, fio QD16: at 4 KiB the two are even, from 16 KiB on `sendfile`
    /// is ahead (docs/benchmarks.md).
    static let smallestFileReply: UInt32 = 16 << 10

    /// The bytes `request` asks for, when it is a READ with known flags
    /// that the export can answer: what the replies without a task take.
    private func answerableRead(_ request: NBDRequest) -> Range<UInt64>? {
        guard request.command == .read, NBDCommandFlags(rawValue: request.flags).isSubset(of: .known) else { return nil }
        return readRange(of: request)
    }

    /// The bytes a READ asks for, when it is one the export can answer.
    private func readRange(of request: NBDRequest) -> Range<UInt64>? {
        guard request.length > 0, request.length <= NBDProtocol.maximumPayload else { return nil }
        return exportRange(of: request)
    }

    /// The bytes `request` covers, when they lie inside the export.
    private func exportRange(of request: NBDRequest) -> Range<UInt64>? {
        let (end, overflow) = request.offset.addingReportingOverflow(UInt64(request.length))
        return overflow || end > disk.byteCount ? nil : request.offset..<end
    }

    /// Unmaps the whole sectors inside `range`; trim is advisory, so the
    /// partial sectors at its ends are left alone.
    private func trim(_ range: Range<UInt64>) async throws {
        let size = UInt64(disk.sectorSize)
        let first = (range.lowerBound + size - 1) / size
        let end = range.upperBound / size
        if first < end {
            try await disk.unmap(at: first, count: end - first)
        }
    }

    /// NBD_CMD_CACHE: read through the stack so the file cache fills, in
    /// pieces no larger than a READ could be.
    private func prefetch(_ range: Range<UInt64>) async throws {
        var offset = range.lowerBound
        while offset < range.upperBound {
            let end = min(offset + UInt64(NBDProtocol.maximumPayload), range.upperBound)
            _ = try await disk.readBytes(offset..<end)
            offset = end
        }
    }

    /// The extents of `range` from the export's allocation map (at most one
    /// with NBD_CMD_FLAG_REQ_ONE), or one extent of data without a map.
    private func blockStatus(_ request: NBDRequest, range: Range<UInt64>) async throws -> OutgoingReply {
        var extents = try await allocation?.allocation(of: range) ?? []
        if extents.isEmpty {
            extents = [AllocationExtent(length: UInt64(request.length), isHole: false, isZero: false)]
        }
        if NBDCommandFlags(rawValue: request.flags).contains(.requestOne) {
            extents = Array(extents.prefix(1))
        }
        return reply(request, .blockStatus(contextID: NBDHandshake.baseAllocationID, extents: extents))
    }

    private func reply(_ request: NBDRequest, _ body: NBDReply.Body) -> OutgoingReply {
        OutgoingReply(NBDReply(cookie: request.cookie, body: body, isStructured: structuredReplies))
    }

    /// The error reply to `request`, which failed with `error`.
    private func failure(_ request: NBDRequest, _ error: any Error) -> OutgoingReply {
        switch error {
        case DiskError.readOnly:
            failure(.permission, request, "the export is read-only")
        case let error as DiskError:
            if case .noSpace = error { failure(.noSpace, request, "\(error)") } else { failure(.invalid, request, "\(error)") }
        default:
            failure(.io, request, "\(error)", cause: FailureCause(of: error))
        }
    }

    /// An error reply, counted under `cause`: by default the one its errno
    /// implies, as the checks above use them.
    private func failure(_ errno: NBDErrno, _ request: NBDRequest, _ message: String, cause: FailureCause? = nil) -> OutgoingReply {
        let cause = cause ?? Self.cause(of: errno)
        metrics.failed(cause)
        events?.requestFailed(request.command?.label ?? "command \(request.type)", cause: cause, message: message)
        return reply(request, .error(errno, message: message))
    }

    private static func cause(of errno: NBDErrno) -> FailureCause {
        switch errno {
        case .permission: .readOnly
        case .noSpace: .noSpace
        case .io: .other
        default: .invalidRequest
        }
    }
}
