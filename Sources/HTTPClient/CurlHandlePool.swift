import CCurl

/// Easy handles kept between transfers on the loop's thread.
///
/// Making a handle allocates curl's state and buffers, and freeing it gives
/// them back: at one transfer per 4 KiB read, that allocator traffic was a
/// fifth of the curl thread's time. A handle given back keeps its shared
/// options and its caches of DNS and TLS sessions; the next transfer sets
/// its own options over the last one's.
final class CurlHandlePool {
    private var idle: [CurlHandle] = []
    private let capacity: Int
    private let configuration: HTTPClientConfiguration

    init(capacity: Int, configuration: HTTPClientConfiguration) {
        self.capacity = capacity
        self.configuration = configuration
    }

    /// An idle handle, or a new one.
    func take() throws -> CurlHandle {
        try idle.popLast() ?? CurlHandle(configuration: configuration)
    }

    /// Takes back a handle no multi handle holds any more. One whose
    /// transfer failed or was cancelled in curl is freed instead: curl can
    /// leave such a handle in a state its next use rejects (after a name
    /// that did not resolve, libcurl 7.88 refused CURLOPT_BUFFERSIZE on
    /// it, so every retry failed as "a bad argument").
    func recycle(_ handle: CurlHandle, afterSuccess succeeded: Bool) {
        guard succeeded, idle.count < capacity else { return }
        idle.append(handle)
    }
}
