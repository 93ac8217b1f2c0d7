import CCurl

/// Easy handles kept between transfers on the loop's thread.
///
/// Making a handle allocates curl's state and buffers, and freeing it gives
/// them back: at one transfer per 4 KiB read, that allocator traffic was a
/// fifth of the curl thread's time. A handle given back is reset to curl's
/// defaults (its options, headers and private pointer are gone; its caches
/// of DNS and TLS sessions stay), so the next transfer configures it afresh.
final class CurlHandlePool {
    private var idle: [UnsafeMutableRawPointer] = []
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    deinit {
        for handle in idle {
            curl_easy_cleanup(handle)
        }
    }

    /// An idle handle, or a new one.
    func take() throws -> UnsafeMutableRawPointer {
        if let handle = idle.popLast() {
            return handle
        }
        guard let handle = curl_easy_init() else { throw CurlError(CURLE_FAILED_INIT, detail: "") }
        return handle
    }

    /// Takes back a handle no multi handle holds any more. One whose
    /// transfer failed or was cancelled in curl is freed instead: curl can
    /// leave such a handle in a state its next use rejects (after a name
    /// that did not resolve, libcurl 7.88 refused CURLOPT_BUFFERSIZE on
    /// it, so every retry failed as "a bad argument").
    func recycle(_ handle: UnsafeMutableRawPointer, afterSuccess succeeded: Bool) {
        guard succeeded, idle.count < capacity else {
            curl_easy_cleanup(handle)
            return
        }
        curl_easy_reset(handle)
        idle.append(handle)
    }
}
