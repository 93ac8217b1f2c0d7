import FoundationEssentials
import Glibc
import LayeredDisk

/// Standard output or standard error, written with `write(2)` so that a
/// full disk, a closed descriptor or a reader that went away is an error
/// to report, not a trap (Foundation's `FileHandle.write(_:)` traps on them).
enum StandardStream {
    case output
    case error

    private var descriptor: Int32 {
        switch self {
        case .output: STDOUT_FILENO
        case .error: STDERR_FILENO
        }
    }

    private var name: String {
        switch self {
        case .output: "standard output"
        case .error: "standard error"
        }
    }

    /// Writes every byte, or throws why it could not.
    func write(_ bytes: some ContiguousBytes) throws {
        try bytes.withUnsafeBytes { buffer in
            var written = 0
            while written < buffer.count {
                let result = Glibc.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                if result < 0 {
                    guard errno == EINTR else {
                        throw CommandError("cannot write to \(name): \(String(cString: strerror(errno)))")
                    }
                    continue
                }
                written += result
            }
        }
    }

    /// Whether the stream is a regular file (not a pipe, socket or device).
    var isRegularFile: Bool {
        var status = stat()
        return fstat(descriptor, &status) == 0 && status.st_mode & S_IFMT == S_IFREG
    }

    /// Writes the bytes `span` names from its file with `sendfile`, so they
    /// never pass through memory of ours, `pieceBytes` a call; where the
    /// output does not take that (an `O_APPEND` file), through `buffer`
    /// (at least `pieceBytes` long) instead.
    func write(_ span: FileSpan, pieceBytes: Int, through buffer: UnsafeMutableRawBufferPointer) throws {
        var offset = off_t(span.offset)
        let end = offset + off_t(span.count)
        var copies = false
        while offset < end {
            let count = min(pieceBytes, Int(end - offset))
            if !copies {
                let result = sendfile(descriptor, span.descriptor, &offset, count)
                if result > 0 || (result < 0 && errno == EINTR) { continue }
                guard result < 0, errno == EINVAL || errno == ENOSYS else {
                    throw CommandError("cannot write to \(name): \(result == 0 ? "the cache file ended early" : String(cString: strerror(errno)))")
                }
                copies = true
            }
            let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[..<count])
            guard pread(span.descriptor, piece.baseAddress, count, offset) == count else {
                throw CommandError("cannot read the cache file: \(String(cString: strerror(errno)))")
            }
            try write(UnsafeRawBufferPointer(piece))
            offset += off_t(count)
        }
    }

    /// Writes a line of text for the user; if even that fails there is no
    /// one left to tell, so the failure is dropped.
    func writeLine(_ text: String) {
        try? write(Array((text + "\n").utf8))
    }

    /// Puts `/dev/null` on each of descriptors 0, 1 and 2 that the process
    /// started without, opened the other way round (standard input for
    /// writing, the outputs for reading), so using them still fails with
    /// EBADF as on a closed descriptor. A free number is the next file's: a
    /// `cat` started with standard output closed wrote the image into
    /// whichever file it opened first, a cache file among them, and
    /// reported success. OpenSSH's `sanitise_stdfd` does the same.
    static func holdClosedDescriptors() {
        for descriptor in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] where fcntl(descriptor, F_GETFD) == -1 && errno == EBADF {
            let placeholder = open("/dev/null", descriptor == STDIN_FILENO ? O_WRONLY : O_RDONLY)
            if placeholder >= 0 && placeholder != descriptor {
                dup2(placeholder, descriptor)
                close(placeholder)
            }
        }
    }
}
