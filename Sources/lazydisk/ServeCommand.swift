import ArgumentParser
import Fetching
import Foundation
import LayeredDisk
import NBD

/// `lazydisk serve URL`: the image as an NBD export, for QEMU or nbd-client.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the image over NBD (RAM overlay for writes, file cache, HTTP).",
        discussion: """
            Listens on a unix socket unless --port is given, and prints the NBD URI. With --run, starts the \
            command with $uri (NBD URI) and $nbd (QEMU's nbd: form) set and stops serving when it exits, \
            exiting with its status. SIGINT or SIGTERM stop the server.
            """
    )

    @OptionGroup var image: ImageArgument

    @Flag(help: "Refuse writes instead of keeping them in a RAM overlay.")
    var readOnly = false

    @Option(help: ArgumentHelp(
        "Memory the RAM overlay may hold for the guest's writes; writes past it fail with ENOSPC.", valueName: "size"))
    var overlayMax = ByteCount(bytes: 1 << 30)

    @Option(help: ArgumentHelp("Unix socket to listen on (default: one in $XDG_RUNTIME_DIR or /tmp).", valueName: "path"))
    var socket: String?

    @Option(help: ArgumentHelp("Listen on TCP instead, at this port (0: any free port).", valueName: "port"))
    var port: Int?

    @Option(help: ArgumentHelp("Address for --port.", valueName: "address"))
    var address = "127.0.0.1"

    @Flag(help: "Allow --address to be reachable from other machines.")
    var allowRemote = false

    @Option(help: ArgumentHelp("Export name clients ask for.", valueName: "name"))
    var exportName = ""

    @Option(help: ArgumentHelp("Run this shell command with $uri and $nbd set; stop serving when it exits.", valueName: "command"))
    var run: String?

    @Flag(help: "Fetch the whole image into the cache in the background while serving.")
    var fill = false

    @Option(help: ArgumentHelp("Cap --fill at this many bytes a second, e.g. 50M (default: no cap; reads always go first).",
                               valueName: "rate"))
    var fillRate: ByteCount?

    @Flag(help: "Do not replay the cache's boot trace at start.")
    var noTraceReplay = false

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
        if fill && (cache.noCache || cache.offline) {
            throw ValidationError("--fill fills the cache from the server; --no-cache and --offline do not allow it")
        }
        if overlayMax.bytes > UInt64(Int.max) {
            throw ValidationError("--overlay-max is larger than any memory")
        }
        if socket?.isEmpty == true {
            throw ValidationError("--socket needs a path")
        }
        if let port, !allowRemote {
            let (_, addresses) = try NBDEndpoint.resolving(host: address, port: port)
            if let remote = addresses.first(where: { !NBDEndpoint.tcp(host: $0, port: port).isLocal }) {
                throw ValidationError("--address \(address) is reachable from other machines (it means \(remote)); add --allow-remote to mean it")
            }
        }
    }

    func run() async throws {
        let stack = try await ImageStack.open(try image.imageURL(), remote: remote, cache: cache, overlayLimit: readOnly ? nil : Int(overlayMax.bytes), recordsTrace: true)
        let description = "lazydisk \(stack.remote.map { "\($0.image.url)" } ?? "offline cache")"
        let server = NBDServer(export: NBDExport(name: exportName, description: description, disk: stack.disk))
        let listener = try await NBDListener.bind(try requestedEndpoint(), server: server)
        let endpoint = listener.endpoint
        let uri = endpoint.uri(exportName: exportName)
        StandardStream.error.writeLine("lazydisk: serving \(description) at \(uri)")
        if run == nil {
            // Unbuffered: a script reading a pipe gets the URI at once.
            try StandardStream.output.write(Array((uri + "\n").utf8))
        }

        let background = hydration(of: stack).map { hydration in Task { await hydration.run() } }
        let status = try await withThrowingTaskGroup(of: Int32?.self) { group in
            group.addTask {
                try await listener.run()
                return nil
            }
            group.addTask {
                if let command = run {
                    return try await ChildCommand.run(command, environment: [
                        "uri": uri, "nbd": endpoint.qemuForm(exportName: exportName),
                    ])
                }
                await StopSignal.wait()
                return 0
            }
            let status = try await group.next() ?? nil
            await listener.close()
            group.cancelAll()
            return status ?? 0
        }
        background?.cancel()
        await background?.value
        try await stack.disk.flush()
        try await stack.finish()
        if case let .unixSocket(path) = endpoint {
            try? FileManager.default.removeItem(atPath: path)
        }
        if status != 0 {
            throw ExitCode(status)
        }
    }

    /// The background work asked for, if there is any and a server to do it.
    private func hydration(of stack: ImageStack) -> Hydration? {
        guard let remote = stack.remote, let cache = stack.cache else { return nil }
        let trace = noTraceReplay ? nil : Hydration.loadTrace(of: cache)
        guard fill || trace != nil else { return nil }
        let engine = FillEngine(
            scheduler: remote.scheduler, store: cache, connections: self.remote.connections,
            rateLimiter: fillRate.map { RateLimiter(bytesPerSecond: $0.bytes) })
        return Hydration(engine: engine, diskBytes: cache.header.diskSize, trace: trace, fillsImage: fill, logger: self.remote.logger)
    }

    private func requestedEndpoint() throws -> NBDEndpoint {
        if let port {
            return try NBDEndpoint.resolving(host: address, port: port).endpoint
        }
        if let socket {
            return .unixSocket(path: socket)
        }
        let directory = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"] ?? NSTemporaryDirectory()
        return .unixSocket(path: URL(fileURLWithPath: directory).appending(path: "lazydisk-\(getpid()).sock").path)
    }
}
