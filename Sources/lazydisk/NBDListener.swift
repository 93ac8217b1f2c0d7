import NBD
import NIOCore
import NIOPosix

/// Accepts NBD connections on an endpoint and serves each with the server,
/// until the task running ``run()`` ends or is cancelled.
struct NBDListener {
    let server: NBDServer
    let listener: NIOAsyncChannel<NBDConnection, Never>
    /// The endpoint as bound (a TCP port 0 becomes the real port).
    let endpoint: NBDEndpoint
    /// Whether the socket's file is this server's to remove when it stops;
    /// not one a service manager handed over, which outlives the server.
    let ownsSocketFile: Bool

    /// Listens at `endpoint`; a client past `maximumConnections` open at
    /// once is disconnected before its handshake.
    static func bind(_ endpoint: NBDEndpoint, server: NBDServer, maximumConnections: Int) async throws -> NBDListener {
        let (bootstrap, configure) = setUp(server: server, maximumConnections: maximumConnections)
        switch endpoint {
        case let .unixSocket(path):
            try UnixSocketPath.prepare(path)
            let listener: NIOAsyncChannel<NBDConnection, Never>
            do {
                listener = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false, childChannelInitializer: configure)
            } catch {
                throw CommandError("cannot listen on \(path): \(error)")
            }
            return NBDListener(server: server, listener: listener, endpoint: endpoint, ownsSocketFile: true)
        case let .tcp(host, port):
            let listener: NIOAsyncChannel<NBDConnection, Never>
            do {
                listener = try await bootstrap.bind(host: host, port: port, childChannelInitializer: configure)
            } catch {
                throw CommandError("cannot listen on \(host) port \(port): \(error)")
            }
            return NBDListener(
                server: server, listener: listener, endpoint: .tcp(host: host, port: listener.channel.localAddress?.port ?? port),
                ownsSocketFile: false)
        }
    }

    /// Accepts on the socket a service manager handed over.
    static func adopt(_ activation: SocketActivation, server: NBDServer, maximumConnections: Int) async throws -> NBDListener {
        let (bootstrap, configure) = setUp(server: server, maximumConnections: maximumConnections)
        let listener: NIOAsyncChannel<NBDConnection, Never>
        do {
            listener = try await bootstrap.bind(activation.descriptor, childChannelInitializer: configure)
        } catch {
            throw CommandError("cannot accept on the socket handed over (LISTEN_FDS): \(error)")
        }
        return NBDListener(server: server, listener: listener, endpoint: activation.endpoint, ownsSocketFile: false)
    }

    /// The bootstrap, and what each connection is set up with: clients past
    /// `maximumConnections` are disconnected before their handshake.
    private static func setUp(
        server: NBDServer, maximumConnections: Int
    ) -> (ServerBootstrap, @Sendable (any Channel) -> EventLoopFuture<NBDConnection>) {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        let connections = ConnectionCount(limit: maximumConnections)
        return (bootstrap, { channel in
            guard connections.admit(channel) else {
                return channel.close().flatMapThrowing { throw ChannelError.ioOnClosedChannel }
            }
            return channel.eventLoop.makeCompletedFuture { try server.configure(channel) }
        })
    }

    /// Serves connections until cancelled.
    func run() async throws {
        try await listener.executeThenClose { connections in
            try await withThrowingDiscardingTaskGroup { group in
                for try await connection in connections {
                    group.addTask { await connection.run() }
                }
            }
        }
    }

    func close() async {
        try? await listener.channel.close()
    }
}
