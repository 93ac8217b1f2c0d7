import ArgumentParser
import Fetching
import FileCache
import FoundationEssentials
import Glibc
import LayeredDisk
import Metrics
import NBD
import Prometheus
import RemoteImage

/// `lazydisk serve URL`: the image as an NBD export, for QEMU or nbd-client.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the image over NBD (RAM overlay for writes, file cache, HTTP).",
        discussion: """
            Listens on a unix socket unless --port is given, and prints the NBD URI. With --run, starts the \
            command with $uri (NBD URI), $nbd (QEMU's nbd: form), $exportname and $unixsocket or $port set, \
            stops serving when it exits, and exits with its status; SIGINT, SIGTERM and SIGHUP go to the command's process \
            group, and what is left of the group when the command exits is stopped. \
            Otherwise SIGINT, SIGTERM or SIGHUP stop the server: it accepts no more connections, sends whole replies \
            to the requests it has read, then exits (a second signal exits at once). With NOTIFY_SOCKET set, \
            READY=1 is sent once listening (systemd Type=notify). Handed a listening socket by socket activation \
            (LISTEN_PID, LISTEN_FDS=1, as a systemd .socket unit does), it serves on that socket and leaves its file in place.
            """
    )

    @OptionGroup var image: ImageArgument

    @Flag(name: [.customShort("r"), .long], help: "Refuse writes instead of keeping them in a RAM overlay.")
    var readOnly = false

    @Option(help: ArgumentHelp(
        "Memory the RAM overlay may hold for the guest's writes; writes past it fail with ENOSPC.", valueName: "size"))
    var overlayMax = ByteCount(bytes: 1 << 30)

    @Option(help: ArgumentHelp(
        "Unix socket to listen on (default: one in $XDG_RUNTIME_DIR/lazydisk or /tmp/lazydisk-UID, both 0700).", valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp("Write the server's process id here once it listens; removed when it stops.", valueName: "path"))
    var pidfile: String?

    @Option(help: ArgumentHelp("Listen on TCP instead, at this port (0: any free port).", valueName: "port"))
    var port: Int?

    @Option(help: ArgumentHelp("Address for --port.", valueName: "address"))
    var address = "127.0.0.1"

    @Flag(help: "Allow --address and --metrics to be reachable from other machines.")
    var allowRemote = false

    @Option(help: ArgumentHelp(
        "Serve Prometheus metrics at http://ADDRESS:PORT/metrics (port 0: any free port; the URL is printed).",
        valueName: "address:port"))
    var metrics: HostAndPort?

    @Option(help: ArgumentHelp(
        "NBD connections open at once, at most; more are disconnected before their handshake.", valueName: "count"))
    var maxConnections = 256

    @Option(help: ArgumentHelp(
        "Export name clients ask for; a glob (vm-*) makes every name that matches a guest of its own, with its own overlay.",
        valueName: "name"))
    var exportName = ""

    @Option(help: ArgumentHelp(
        "Memory all guests' overlays may hold together, with a glob --export-name (default: half the machine's memory).",
        valueName: "size"))
    var overlaysMax: ByteCount?

    @Option(help: ArgumentHelp(
        "Seconds a guest's overlay outlives its last connection, so a client that reconnects finds its writes.",
        valueName: "seconds"))
    var guestGrace: Double = 60

    @Option(help: ArgumentHelp("Run this shell command with $uri and $nbd set; stop serving when it exits.", valueName: "command"))
    var run: String?

    @Flag(help: "Fetch the whole image into the cache in the background while serving.")
    var fill = false

    @Option(help: ArgumentHelp("Cap --fill at this many bytes a second, e.g. 50M (default: no cap; reads always go first).",
                               valueName: "rate"))
    var fillRate: ByteCount?

    @Flag(help: "Do not replay the cache's boot trace at start.")
    var noTraceReplay = false

    @Option(help: ArgumentHelp(
        "Replay this boot trace at start instead of the cache's own: a file, or an http(s) URL (see cache trace).",
        valueName: "file|url"))
    var traceFrom: String?

    @OptionGroup var remote: RemoteOptions
    @OptionGroup var cache: CacheOptions

    func validate() throws {
        if socket != nil && port != nil {
            throw ValidationError("--socket and --port are alternatives")
        }
        if let port, !(0...65535).contains(port) {
            throw ValidationError("--port must be between 0 and 65535")
        }
        if fillRate?.bytes == 0 {
            throw ValidationError("--fill-rate must be more than 0 bytes a second")
        }
        if traceFrom != nil && (noTraceReplay || cache.noCache || cache.offline) {
            throw ValidationError("--trace-from is replayed into the cache from the server; --no-trace-replay, --no-cache and --offline do not allow it")
        }
        if fill && (cache.noCache || cache.offline) {
            throw ValidationError("--fill fills the cache from the server; --no-cache and --offline do not allow it")
        }
        if overlayMax.bytes > UInt64(Int.max) || (overlaysMax?.bytes ?? 0) > UInt64(Int.max) {
            throw ValidationError("\(overlayMax.bytes > UInt64(Int.max) ? "--overlay-max" : "--overlays-max") is larger than any memory")
        }
        if overlaysMax != nil && !GuestCatalog.isGlob(exportName) {
            throw ValidationError("--overlays-max caps the overlays of guests: it needs a glob --export-name")
        }
        if !guestGrace.isFinite || !(0...86400).contains(guestGrace) {
            throw ValidationError("--guest-grace must be between 0 and 86400 seconds")
        }
        if !(1...65536).contains(maxConnections) {
            throw ValidationError("--max-connections must be between 1 and 65536")
        }
        if socket?.isEmpty == true {
            throw ValidationError("--socket needs a path")
        }
    }

    func run() async throws {
        // Resolved once, before anything is opened: checked and bound alike.
        let activation = try SocketActivation.inherited()
        if activation != nil && (socket != nil || port != nil) {
            throw CommandError("a socket was handed over (LISTEN_FDS): --socket and --port cannot name another")
        }
        let listen: (NBDServer) async throws -> NBDListener
        if let activation {
            listen = { [maxConnections] in try await NBDListener.adopt(activation, server: $0, maximumConnections: maxConnections) }
        } else {
            let requested = try requestedEndpoint()
            listen = { [maxConnections] in try await NBDListener.bind(requested, server: $0, maximumConnections: maxConnections) }
        }
        let metricsAddress = try metrics.map { try checkedAddress($0.host, port: $0.port, option: "--metrics") }
        // Before anything counts: every metric made from here on is exported.
        let registry = PrometheusCollectorRegistry()
        if metricsAddress != nil {
            MetricsSystem.bootstrap(DescribedPrometheusFactory(registry: registry))
        }
        // Claimed before anything is bound, so a refusal leaves nothing behind.
        let pidFile = try pidfile.map(PidFile.init(claiming:))
        defer { pidFile?.remove() }
        let source = try await image.source(commandTimeLimit: remote.commandTimeLimit)
        let stack = try await ImageStack.open(
            source, remote: remote, cache: cache, overlayLimit: readOnly ? nil : Int(overlayMax.bytes), recordsTrace: true)
        var givenTrace: BootTrace?
        if let traceFrom {
            givenTrace = try await TraceSource(location: traceFrom).load(
                diskBytes: stack.cache?.header.diskSize ?? stack.disk.byteCount, image: source, remote: remote)
        }
        let description = "lazydisk \(stack.remote.map { "\($0.image.url)" } ?? "offline cache")"
        var server = NBDServer(exports: try exports(of: stack, description: description))
        server.events = ServeEvents(verbose: remote.verbose)
        let listener = try await listen(server)
        let ownedSocket: String? = if listener.ownsSocketFile, case let .unixSocket(path) = listener.endpoint { path } else { nil }
        var metricsEndpoint: MetricsEndpoint?
        if let metricsAddress {
            let scraped = ScrapedMetrics(stack: stack)
            metricsEndpoint = try await MetricsEndpoint.bind(host: metricsAddress.host, port: metricsAddress.port) {
                scraped.update()
                return registry.emitToBuffer()
            }
        }
        let endpoint = listener.endpoint
        let uri = endpoint.uri(exportName: exportName)
        let guests = GuestCatalog.isGlob(exportName) ? " (every export name matching '\(exportName)' is a guest of its own)" : ""
        StandardStream.error.writeLine("lazydisk: serving \(description) at \(uri)\(guests)")
        if let metricsEndpoint {
            StandardStream.error.writeLine("lazydisk: metrics at \(metricsEndpoint.url)")
        }
        if run == nil {
            // Unbuffered: a script reading a pipe gets the URI at once.
            try StandardStream.output.write(Array((uri + "\n").utf8))
        }

        do {
            try pidFile?.write()
        } catch {
            Self.removeFiles(socket: ownedSocket, pidFile: pidFile)
            throw error
        }
        ServiceNotification.ready()

        let background = hydration(of: stack, trace: givenTrace).map { hydration in Task { await hydration.run() } }
        let status = try await withThrowingTaskGroup(of: Int32?.self) { group in
            group.addTask {
                try await listener.run()
                return nil
            }
            if let run {
                // The command decides how to stop; serving ends when it has.
                let environment = childEnvironment(endpoint, uri: uri)
                group.addTask { try await ChildCommand.run(run, environment: environment) }
            } else {
                group.addTask {
                    var signals = StopSignal.signals().makeAsyncIterator()
                    _ = await signals.next()
                    StandardStream.error.writeLine(
                        "lazydisk: stopping: no new connections; answering the requests already read (signal again to stop at once)")
                    Task.detached {
                        _ = await signals.next()
                        Self.removeFiles(socket: ownedSocket, pidFile: pidFile)
                        ProcessGroup.killAll()
                        Glibc.exit(130)
                    }
                    return 0
                }
            }
            var status: Int32?
            while status == nil, let next = try await group.next() {
                status = next
            }
            await listener.close()
            await metricsEndpoint?.close()
            group.cancelAll()
            return status ?? 0
        }
        background?.cancel()
        await background?.value
        try await stack.disk.flush()
        try await stack.finish()
        if let counters = stack.scheduler?.counters {
            StandardStream.error.writeLine("lazydisk: " + CounterReport(counters).line)
        }
        Self.removeFiles(socket: ownedSocket, pidFile: pidFile)
        await ProcessGroup.stopAll(within: ChildCommand.stopGrace)
        if status != 0 {
            throw ExitCode(status)
        }
    }

    /// One export of the stack's disk, or with a glob export name, a guest
    /// for each name that matches.
    private func exports(of stack: ImageStack, description: String) throws -> any NBDExportCatalog {
        guard GuestCatalog.isGlob(exportName) else {
            return NBDExport(name: exportName, description: description, disk: stack.disk, allocation: stack.allocation)
        }
        let total = overlaysMax.map { Int($0.bytes) } ?? Int(ProcessInfo.processInfo.physicalMemory / 2)
        return try GuestCatalog(
            pattern: exportName, description: description, disks: stack.guests, overlayLimit: readOnly ? nil : Int(overlayMax.bytes),
            budget: MemoryBudget(limitBytes: total), grace: .seconds(guestGrace), verbose: remote.verbose)
    }

    /// What `--run` finds in its environment, as nbdkit's `--run` sets it.
    private func childEnvironment(_ endpoint: NBDEndpoint, uri: String) -> [String: String] {
        var environment = ["uri": uri, "nbd": endpoint.qemuForm(exportName: exportName), "exportname": exportName]
        switch endpoint {
        case let .unixSocket(path): environment["unixsocket"] = path
        case let .tcp(_, port): environment["port"] = "\(port)"
        }
        return environment
    }

    /// The socket and the pid file, which must not outlive the server.
    /// `socket` is nil for a socket that is not this server's to remove.
    private static func removeFiles(socket: String?, pidFile: PidFile?) {
        if let socket {
            unlink(socket)
        }
        pidFile?.remove()
    }

    /// The background work asked for, if there is any and a server to do
    /// it; `given` is a trace from `--trace-from`.
    private func hydration(of stack: ImageStack, trace given: BootTrace?) -> Hydration? {
        guard let remote = stack.remote, let cache = stack.cache, let scheduler = stack.scheduler else { return nil }
        let trace = noTraceReplay ? nil : given ?? Hydration.loadTrace(of: cache)
        // A server without ranges sends the whole image anyway: keep all of it.
        let fillsImage = fill || !remote.image.servesRanges
        guard fillsImage || trace != nil else { return nil }
        let engine = FillEngine(
            scheduler: scheduler, store: cache, connections: self.remote.connections,
            rateLimiter: fillRate.map { RateLimiter(bytesPerSecond: $0.bytes) })
        return Hydration(engine: engine, diskBytes: cache.header.diskSize, trace: trace, fillsImage: fillsImage, logger: self.remote.logger)
    }

    /// `host` resolved, when every address it means is loopback or
    /// `--allow-remote` says otherwise: a name is checked by what it means,
    /// and the server binds the address that was checked.
    private func checkedAddress(_ host: String, port: Int, option: String) throws -> (host: String, port: Int) {
        let addresses = try NBDEndpoint.addresses(of: host, option: option)
        if !allowRemote, let remote = addresses.first(where: { !NBDEndpoint.tcp(host: $0, port: port).isLocal }) {
            throw CommandError("\(option) \(host) is reachable from other machines (it means \(remote)); add --allow-remote to mean it")
        }
        return (addresses[0], port)
    }

    /// Where to listen for NBD clients.
    private func requestedEndpoint() throws -> NBDEndpoint {
        if let port {
            let (host, port) = try checkedAddress(address, port: port, option: "--address")
            return .tcp(host: host, port: port)
        }
        if let socket {
            return .unixSocket(path: socket)
        }
        return .unixSocket(path: try UnixSocketPath.defaultPath())
    }
}
