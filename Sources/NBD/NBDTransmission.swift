import LayeredDisk
import NIOCore

/// Carries out transmission-phase requests against the export's disk and
/// says what to send back. Requests are independent, so a connection runs
/// many at once and sends each reply when it is ready.
struct NBDTransmission: Sendable {
    let disk: any BlockDevice
    let allocation: (any AllocationMap)?
    let structuredReplies: Bool
    let baseAllocation: Bool
    let metrics: NBDMetrics
    let events: (any NBDServerEvents)?

    /// The replies to `request`, in order.
    func reply(to request: NBDRequest) async -> [NBDServerMessage] {
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
                let bytes = try await disk.readBytes(range)
                metrics.succeeded(.read, length: request.length)
                return readReply(request, bytes: bytes)
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
                return [try await blockStatus(request, range: range)]
            case .disconnect:
                return []
            }
            metrics.succeeded(command, length: request.length)
            return [success(request)]
        } catch DiskError.readOnly {
            return failure(.permission, request, "the export is read-only")
        } catch let error as DiskError {
            if case .noSpace = error {
                return failure(.noSpace, request, "\(error)")
            }
            return failure(.invalid, request, "\(error)")
        } catch {
            return failure(.io, request, "\(error)", cause: FailureCause(of: error))
        }
    }

    /// The reply to a READ the disk can serve without waiting, or `nil`: for
    /// any other request, or a read that must wait or fails, ask
    /// ``reply(to:)``, which also says what was wrong.
    func immediateReply(to request: NBDRequest) -> [NBDServerMessage]? {
        guard request.command == .read, NBDCommandFlags(rawValue: request.flags).isSubset(of: .known),
              let range = readRange(of: request)
        else { return nil }
        // The disk writes the bytes straight into the buffer the socket gets.
        let length = Int(request.length)
        var data = readReplyBuffer(for: request)
        let read = try? data.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { target in
            try disk.readBytesImmediately(range, into: UnsafeMutableRawBufferPointer(rebasing: target[..<length])) ? length : 0
        }
        guard read == length else { return nil }
        metrics.received(.read)
        metrics.succeeded(.read, length: request.length)
        return [dataReply(request, data: data)]
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

    /// The reply carrying a READ's bytes, copied once into the buffer the
    /// socket is given.
    private func readReply(_ request: NBDRequest, bytes: [UInt8]) -> [NBDServerMessage] {
        var data = readReplyBuffer(for: request)
        data.writeBytes(bytes)
        return [dataReply(request, data: data)]
    }

    /// A READ's reply buffer with room for its bytes, which go after their
    /// offset when the reply is structured (an NBD_REPLY_TYPE_OFFSET_DATA
    /// chunk).
    private func readReplyBuffer(for request: NBDRequest) -> ByteBuffer {
        var data = ByteBuffer()
        data.reserveCapacity(MemoryLayout<UInt64>.size + Int(request.length))
        if structuredReplies {
            data.writeInteger(request.offset)
        }
        return data
    }

    /// A READ's reply around `data`, filled as ``readReplyBuffer(for:)`` says.
    private func dataReply(_ request: NBDRequest, data: ByteBuffer) -> NBDServerMessage {
        structuredReplies
            ? .structuredReply(flags: Self.done, type: NBDReplyType.offsetData.rawValue, cookie: request.cookie, data: data)
            : .simpleReply(error: 0, cookie: request.cookie, data: data)
    }

    /// The extents of `range` from the export's allocation map (at most one
    /// with NBD_CMD_FLAG_REQ_ONE), or one extent of data without a map.
    private func blockStatus(_ request: NBDRequest, range: Range<UInt64>) async throws -> NBDServerMessage {
        var extents = try await allocation?.allocation(of: range) ?? []
        if extents.isEmpty {
            extents = [AllocationExtent(length: UInt64(request.length), isHole: false, isZero: false)]
        }
        if NBDCommandFlags(rawValue: request.flags).contains(.requestOne) {
            extents = Array(extents.prefix(1))
        }
        var chunk = ByteBuffer()
        chunk.writeInteger(NBDHandshake.baseAllocationID)
        for extent in extents {
            chunk.writeInteger(UInt32(extent.length))
            chunk.writeInteger(UInt32(extent.isHole ? 1 : 0) | UInt32(extent.isZero ? 2 : 0))
        }
        return .structuredReply(flags: Self.done, type: NBDReplyType.blockStatus.rawValue, cookie: request.cookie, data: chunk)
    }

    private func success(_ request: NBDRequest) -> NBDServerMessage {
        structuredReplies
            ? .structuredReply(flags: Self.done, type: NBDReplyType.none.rawValue, cookie: request.cookie, data: ByteBuffer())
            : .simpleReply(error: 0, cookie: request.cookie, data: nil)
    }

    /// An error reply, counted under `cause`: by default the one its errno
    /// implies, as the checks above use them.
    private func failure(
        _ errno: NBDErrno, _ request: NBDRequest, _ message: String, cause: FailureCause? = nil
    ) -> [NBDServerMessage] {
        let cause = cause ?? Self.cause(of: errno)
        metrics.failed(cause)
        events?.requestFailed(request.command?.label ?? "command \(request.type)", cause: cause, message: message)
        guard structuredReplies else { return [.simpleReply(error: errno.rawValue, cookie: request.cookie, data: nil)] }
        var chunk = ByteBuffer()
        chunk.writeInteger(errno.rawValue)
        chunk.writeInteger(UInt16(message.utf8.count))
        chunk.writeString(message)
        return [.structuredReply(flags: Self.done, type: NBDReplyType.error.rawValue, cookie: request.cookie, data: chunk)]
    }

    private static func cause(of errno: NBDErrno) -> FailureCause {
        switch errno {
        case .permission: .readOnly
        case .noSpace: .noSpace
        case .io: .other
        default: .invalidRequest
        }
    }

    /// `NBD_REPLY_FLAG_DONE`: the last chunk of a reply.
    private static let done: UInt16 = 1
}
