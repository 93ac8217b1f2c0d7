import CIsal
import CZlib
import CZstd

/// Inflates one compressed cluster: raw deflate or zstd, as the header
/// says. Data that does not inflate to a whole cluster is an error, never a
/// short or padded cluster.
struct ClusterDecompressor: Sendable {
    let compression: Qcow2Header.Compression
    let clusterSize: Int

    func decompress(_ compressed: [UInt8]) throws -> [UInt8] {
        // Uninitialized: a cluster that inflates fills every byte, and one
        // that does not is never returned.
        var complete = false
        let cluster = [UInt8](unsafeUninitializedCapacity: clusterSize) { output, initializedCount in
            complete = compressed.withUnsafeBytes { input in
                switch compression {
                case .deflate: Self.inflateWhole(input, into: UnsafeMutableRawBufferPointer(output))
                    || Self.inflate(input, into: UnsafeMutableRawBufferPointer(output))
                case .zstd: Self.unzstd(input, into: UnsafeMutableRawBufferPointer(output))
                }
            }
            initializedCount = complete ? clusterSize : 0
        }
        guard complete else {
            throw Qcow2Error.corrupt("a compressed cluster does not inflate (\(compression.rawValue), \(compressed.count) bytes)")
        }
        return cluster
    }

    /// ISA-L's inflate of a stream held whole, which a cluster's is: it
    /// takes under 0.6 of zlib's streaming inflate's time (0.75 of
    /// libdeflate's), and inflating is most of a warm qcow2 read's work. It
    /// takes a stream that ends within the bytes given and fills the
    /// cluster exactly; the rest of what qemu accepts is left to zlib under
    /// qemu's rule. Its state is 85 KiB, too large for a pool thread's stack.
    static func inflateWhole(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
        guard input.count <= UInt32.max, output.count <= UInt32.max else { return false }
        let state = UnsafeMutablePointer<inflate_state>.allocate(capacity: 1)
        defer { state.deallocate() }
        isal_inflate_init(state)
        state.pointee.crc_flag = UInt32(ISAL_DEFLATE)
        state.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        state.pointee.avail_in = UInt32(input.count)
        state.pointee.next_out = output.baseAddress?.assumingMemoryBound(to: UInt8.self)
        state.pointee.avail_out = UInt32(output.count)
        return isal_inflate_stateless(state) == ISAL_DECOMP_OK && state.pointee.avail_out == 0
    }

    /// qemu's rule: the output must fill up, whether or not the stream's
    /// end came with it (the compressed length is rounded up to sectors).
    private static func inflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
        var stream = z_stream()
        guard czlib_inflate_init_raw(&stream) == Z_OK else { return false }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        stream.next_out = output.baseAddress?.assumingMemoryBound(to: Bytef.self)
        stream.avail_out = uInt(output.count)
        let result = CZlib.inflate(&stream, Z_FINISH)
        return (result == Z_STREAM_END || result == Z_BUF_ERROR) && stream.avail_out == 0
    }

    /// A zstd frame, possibly followed by padding to the sector's end.
    private static func unzstd(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
        guard let context = ZSTD_createDCtx() else { return false }
        defer { ZSTD_freeDCtx(context) }
        var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var target = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
        while target.pos < target.size {
            let result = ZSTD_decompressStream(context, &target, &source)
            if ZSTD_isError(result) != 0 || (result != 0 && source.pos == source.size && target.pos < target.size) {
                return false
            }
            if result == 0 && target.pos < target.size {
                return false
            }
        }
        return true
    }
}
