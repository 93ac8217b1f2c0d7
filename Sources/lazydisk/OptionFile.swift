import SystemPackage

/// The text of a file an option names (`--header-file`, `--url-file`), or
/// a one-line error that names the option and the file.
///
/// Only a regular file is read, and only its first ``largestOptionFile``
/// bytes' worth: a FIFO, a device or a directory is refused by its type
/// rather than blocked on or read forever. A symbolic link is followed, as
/// secret stores (Kubernetes, Vault Agent) rotate files by swapping links.
func readOptionFile(_ path: String, option: String) throws -> String {
    String(decoding: try readOptionFile(path, option: option, limit: largestOptionFile), as: UTF8.self)
}

/// The bytes of a file an option names, refused past `limit` bytes, by the
/// same rules.
func readOptionFile(_ path: String, option: String, limit: Int64) throws -> [UInt8] {
    let file = try openOptionFile(path, option: option)
    defer { try? file.close() }
    do {
        let status = try file.stat()
        guard status.size <= limit else {
            throw CommandError("cannot read \(option) \(path): it has \(status.size) bytes; such a file holds at most \(ByteFormat.size(UInt64(limit)))")
        }
        return try [UInt8](unsafeUninitializedCapacity: Int(status.size)) { buffer, count in
            count = try file.read(into: UnsafeMutableRawBufferPointer(buffer))
        }
    } catch let error as Errno {
        throw CommandError("cannot read \(option) \(path): \(error.description)")
    }
}

/// Opens a file an option names, by the rules above: a regular file, or
/// a one-line error that names the option and the file.
func openOptionFile(_ path: String, option: String) throws -> FileDescriptor {
    let file: FileDescriptor
    let type: FileType
    do {
        // Non-blocking, so opening a FIFO with no writer cannot hang.
        file = try FileDescriptor.open(FilePath(path), .readOnly, options: [.nonBlocking, .closeOnExec])
        do {
            type = try file.stat().type
        } catch {
            try? file.close()
            throw error
        }
    } catch let error as Errno {
        throw CommandError("cannot read \(option) \(path): \(error.description)")
    }
    guard type == .regular else {
        try? file.close()
        throw CommandError("cannot read \(option) \(path): it is \(describe(type)), not a regular file")
    }
    return file
}

/// A URL or a few headers: far more than either needs.
let largestOptionFile: Int64 = 64 << 10

private func describe(_ type: FileType) -> String {
    switch type {
    case .directory: "a directory"
    case .fifo: "a FIFO"
    case .characterSpecial, .blockSpecial: "a device"
    case .socket: "a socket"
    default: "not a regular file"
    }
}
