import CCurl
import Fetching
import Synchronization

/// The thread that owns a curl multi handle and runs every transfer on it.
///
/// Other threads only add work to the inbox and wake the loop with
/// `curl_multi_wakeup`, the one multi-handle call libcurl allows from any
/// thread. Everything else about the handle happens on the loop's thread.
final class CurlEventLoop: Sendable {
    struct Submission: Sendable {
        var id: Int
        var request: HTTPRequest
        var continuation: CheckedContinuation<HTTPResponse, any Error>
    }

    private struct Inbox {
        var submissions: [Submission] = []
        var cancellations: [Int] = []
        var stopping = false
        var resumingHeld = false

        var isEmpty: Bool { submissions.isEmpty && cancellations.isEmpty && !stopping && !resumingHeld }
    }

    private let multi: MultiHandle
    private let configuration: HTTPClientConfiguration
    private let inbox = Mutex(Inbox())

    init(configuration: HTTPClientConfiguration) {
        CurlGlobal.initialize()
        self.configuration = configuration
        multi = MultiHandle(connections: configuration.connections)
        DedicatedThread.start { [self] in run() }
    }

    /// Only the first piece of work in an empty inbox wakes the loop: the
    /// loop empties the inbox after that wake-up, so later work rides along
    /// (a burst of sixteen misses costs one wake-up, not sixteen).
    func submit(_ submission: Submission) {
        post { $0.submissions.append(submission) }
    }

    func cancel(_ id: Int) {
        post { $0.cancellations.append(id) }
    }

    func stop() {
        post { $0.stopping = true }
    }

    /// Offers the bytes of every held transfer to its sink again.
    func resumeHeld() {
        post { $0.resumingHeld = true }
    }

    private func post(_ change: (inout Inbox) -> Void) {
        let wasEmpty = inbox.withLock { inbox in
            defer { change(&inbox) }
            return inbox.isEmpty
        }
        if wasEmpty { multi.wakeUp() }
    }

    private func run() {
        var transfers: [Int: CurlTransfer] = [:]
        let handles = CurlHandlePool(capacity: 4 * configuration.connections, configuration: configuration)
        /// Starts a transfer on a pooled handle; the handle goes back if the
        /// transfer cannot start.
        func begin(_ submission: Submission) throws -> CurlTransfer {
            let handle = try handles.take()
            do {
                let transfer = try CurlTransfer(submission, handle: handle)
                try multi.add(transfer)
                return transfer
            } catch {
                handles.recycle(handle, afterSuccess: false)
                throw error
            }
        }
        /// Ends a transfer the multi handle no longer holds.
        func end(_ transfer: CurlTransfer, succeeded: Bool, _ ending: (CurlTransfer) -> Void) {
            multi.remove(transfer)
            ending(transfer)
            handles.recycle(transfer.handle, afterSuccess: succeeded)
        }
        while true {
            let work = inbox.withLock { inbox in
                defer { inbox.submissions = []; inbox.cancellations = []; inbox.resumingHeld = false }
                return inbox
            }
            for submission in work.submissions {
                do {
                    transfers[submission.id] = try begin(submission)
                } catch {
                    submission.continuation.resume(throwing: error)
                }
            }
            for id in work.cancellations {
                guard let transfer = transfers.removeValue(forKey: id) else { continue }
                end(transfer, succeeded: false) { $0.finish(throwing: CancellationError()) }
            }
            if work.resumingHeld {
                // curl hands the held bytes over inside the call, and the
                // sink may hold them again.
                for transfer in transfers.values where transfer.isHeld {
                    transfer.isHeld = false
                    curl_easy_pause(transfer.handle.pointer, CURLPAUSE_CONT)
                }
            }
            if work.stopping {
                for transfer in transfers.values {
                    end(transfer, succeeded: false) { $0.finish(throwing: CancellationError()) }
                }
                multi.cleanUp()
                return
            }
            for (id, result) in multi.performAndCollectFinished() {
                guard let transfer = transfers.removeValue(forKey: id) else { continue }
                end(transfer, succeeded: result == CURLE_OK) { $0.finish(result) }
            }
            multi.poll()
        }
    }
}

/// The curl multi handle. Only ``wakeUp()`` may be called off the loop's
/// thread (libcurl documents `curl_multi_wakeup` as thread-safe); that is why
/// the wrapper may be shared.
private struct MultiHandle: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer

    init(connections: Int) {
        pointer = curl_multi_init()
        _ = ccurl_multi_setopt_long(pointer, CURLMOPT_MAX_HOST_CONNECTIONS, connections)
        _ = ccurl_multi_setopt_long(pointer, CURLMOPT_MAX_TOTAL_CONNECTIONS, connections)
        // curl's own cache size is four connections per handle added; ours
        // come and go with each transfer, so at a lull it closed connections
        // the next burst then opened again (one connect per ~230 reads).
        _ = ccurl_multi_setopt_long(pointer, CURLMOPT_MAXCONNECTS, connections)
        _ = ccurl_multi_setopt_long(pointer, CURLMOPT_PIPELINING, Int(CURLPIPE_MULTIPLEX))
    }

    func wakeUp() {
        curl_multi_wakeup(pointer)
    }

    func add(_ transfer: CurlTransfer) throws {
        let code = curl_multi_add_handle(pointer, transfer.handle.pointer)
        guard code == CURLM_OK else {
            throw CurlError(CURLE_FAILED_INIT, detail: String(cString: curl_multi_strerror(code)))
        }
    }

    func remove(_ transfer: CurlTransfer) {
        curl_multi_remove_handle(pointer, transfer.handle.pointer)
    }

    /// Moves every transfer along and returns those that finished, by id.
    func performAndCollectFinished() -> [(id: Int, result: CURLcode)] {
        var running: Int32 = 0
        curl_multi_perform(pointer, &running)
        var finished: [(id: Int, result: CURLcode)] = []
        var queued: Int32 = 0
        while let message = curl_multi_info_read(pointer, &queued) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            finished.append((CurlTransfer.id(of: easy), message.pointee.data.result))
        }
        return finished
    }

    /// Sleeps until a socket is ready, curl's next timeout, or a wake-up.
    func poll() {
        curl_multi_poll(pointer, nil, 0, 1000, nil)
    }

    func cleanUp() {
        curl_multi_cleanup(pointer)
    }
}

/// `curl_global_init` must run once before any handle exists.
enum CurlGlobal {
    private static let initialized: Bool = curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK

    static func initialize() {
        precondition(initialized, "libcurl failed to initialize")
    }
}
