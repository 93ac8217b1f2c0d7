import Foundation

/// A deliberately low-level NBD client on a unix socket (or a TCP port): it sends whatever
/// bytes a test gives it, so tests can speak the protocol correctly or throw
/// garbage at the server. Blocking; use it off the cooperative pool.
final class RawNBDConnection {
    private let descriptor: Int32

    init(socketPath: String) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            path.copyBytes(from: Array(socketPath.utf8.prefix(path.count - 1)) + [0])
        }
        descriptor = try Self.connected(family: AF_UNIX, to: address)
    }

    /// The same over TCP to 127.0.0.1:`port`, for the NBD and metrics
    /// listeners on a port.
    init(port: Int) throws {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        descriptor = try Self.connected(family: AF_INET, to: address)
    }

    /// A stream socket of `family` connected to `address`.
    private static func connected<Address>(family: Int32, to address: Address) throws -> Int32 {
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        var address = address
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<Address>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        return descriptor
    }

    /// Sends `bytes` again and again without waiting, until the socket has
    /// taken nothing for `patience` milliseconds or `times` copies went.
    func flood(_ bytes: [UInt8], times: Int, patience: Int32) -> Int {
        var sent = 0
        var pending = bytes[...]
        while sent < times {
            let count = sendWithoutWaiting(pending)
            if count == pending.count {
                sent += 1
                pending = bytes[...]
            } else if count > 0 {
                pending = pending.dropFirst(count)
            } else {
                var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                guard poll(&poller, 1, patience) == 1 else { break }
            }
        }
        return sent
    }

    /// Whether the server closed the connection within `timeout`
    /// milliseconds (what it sent before is skipped).
    func isClosedByServer(within timeout: Int32) -> Bool {
        while true {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, timeout) == 1 else { return false }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let received = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if received <= 0 { return true }
        }
    }

    deinit {
        close(descriptor)
    }

    /// Sends bytes; false once the server has closed the connection.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Foundation.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return false }
            sent += count
        }
        return true
    }

    /// Sends what the socket takes without waiting; returns how many bytes.
    func sendWithoutWaiting(_ bytes: ArraySlice<UInt8>) -> Int {
        let count = bytes.withUnsafeBytes { Foundation.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        return max(count, 0)
    }

    /// Reads exactly `count` bytes, or fewer if the server closes or goes
    /// quiet for `timeout` milliseconds.
    func receive(_ count: Int, timeout: Int32 = 2000) -> [UInt8] {
        var bytes: [UInt8] = []
        while bytes.count < count {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, timeout) == 1 else { break }
            var chunk = [UInt8](repeating: 0, count: count - bytes.count)
            let received = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard received > 0 else { break }
            bytes += chunk[..<received]
        }
        return bytes
    }

    /// Greeting, client flags and NBD_OPT_GO for the default export, with
    /// simple replies; true when the server acknowledged.
    func handshake() -> Bool {
        guard receive(18).count == 18 else { return false }
        send(Self.bigEndian(UInt32(3)))
        send(Self.option(7, data: Self.bigEndian(UInt32(0)) + Self.bigEndian(UInt16(0))))
        while true {
            let header = receive(20)
            guard header.count == 20 else { return false }
            let type = header[12..<16].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let length = Int(header[16..<20].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            _ = receive(length)
            if type == 1 { return true }
            if type & 0x8000_0000 != 0 { return false }
        }
    }

    /// A transmission request.
    static func request(type: UInt16, flags: UInt16 = 0, cookie: UInt64, offset: UInt64, length: UInt32) -> [UInt8] {
        bigEndian(UInt32(0x2560_9513)) + bigEndian(flags) + bigEndian(type) + bigEndian(cookie) + bigEndian(offset) + bigEndian(length)
    }

    static func option(_ code: UInt32, data: [UInt8]) -> [UInt8] {
        bigEndian(UInt64(0x4948_4156_454F_5054)) + bigEndian(code) + bigEndian(UInt32(data.count)) + data
    }

    static func bigEndian<Integer: FixedWidthInteger>(_ value: Integer) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian, Array.init)
    }
}
