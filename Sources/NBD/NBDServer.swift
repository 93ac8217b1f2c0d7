import LayeredDisk
import NIOCore

/// Serves a catalog of exports (one export, or one made for each name a
/// pattern matches) over NBD connections: each gets the codec and an
/// ``NBDConnectionHandler`` that runs the handshake, then many requests at a
/// time with replies in completion order.
///
/// A connection that breaks the protocol (bad magic, oversized payload,
/// garbage) is closed; other connections never notice.
public struct NBDServer: Sendable {
    public let exports: any NBDExportCatalog
    /// Requests of a connection that may wait on a task at once; more wait
    /// for one of them to be answered.
    public var maximumInFlight = 64
    /// Data of a connection's requests in flight (reads' replies, writes'
    /// payloads), at most: with a cold cache each waits for its fetch, and a
    /// client such as nbdcopy keeps 64 requests of 256 KiB in flight on each
    /// of four connections. This bounds what they cost; the fetches behind
    /// them are what makes a copy fast.
    public var maximumBytesInFlight = 1 << 20
    /// Reply bytes a connection may have queued for its socket before it
    /// stops starting requests. The socket's own buffer holds more behind
    /// them, so a few large replies keep a client busy; each MiB here is a
    /// MiB of heap on every connection of a copy (docs/benchmarks.md).
    public var writeBufferWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 256 << 10, high: 1 << 20)
    /// Time a client has from connecting to the end of its handshake: one
    /// that never finishes it holds a descriptor and nothing else (QEMU's
    /// server allows 10 s too).
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// Made with the server, so a metrics backend bootstrapped before it counts.
    private let metrics = NBDMetrics()
    /// Told of connections and failed requests.
    public var events: (any NBDServerEvents)?

    public init(exports: any NBDExportCatalog) {
        self.exports = exports
    }

    /// Sets up a fresh connection to be served. Call on the channel's event
    /// loop (a child channel initializer).
    public func configure(_ channel: any Channel) throws -> NBDConnection {
        let finished = channel.eventLoop.makePromise(of: Void.self)
        try channel.syncOptions?.setOption(.writeBufferWaterMark, value: writeBufferWaterMark)
        try channel.pipeline.syncOperations.addHandlers(
            ByteToMessageHandler(NBDServerDecoder()),
            NBDServerEncoder(),
            NBDConnectionHandler(
                exports: exports, maximumInFlight: maximumInFlight, maximumBytesInFlight: maximumBytesInFlight, handshakeTimeout: handshakeTimeout,
                metrics: metrics, events: events, finished: finished)
        )
        return NBDConnection(channel: channel, finished: finished.futureResult)
    }
}
