import NBD
import NIOCore
import NIOEmbedded
import Testing

@Suite("NBD decoder")
struct NBDServerDecoderTests {
    private func frames() -> ByteBuffer {
        var bytes = ByteBuffer()
        bytes.writeInteger(UInt32(3))
        bytes.writeInteger(UInt64(0x4948_4156_454F_5054))
        bytes.writeInteger(UInt32(8))
        bytes.writeInteger(UInt32(0))
        bytes.writeInteger(UInt64(0x4948_4156_454F_5054))
        bytes.writeInteger(UInt32(7))
        bytes.writeInteger(UInt32(6))
        bytes.writeInteger(UInt32(0))
        bytes.writeInteger(UInt16(0))
        bytes.writeInteger(UInt32(0x2560_9513))
        bytes.writeInteger(UInt16(1))
        bytes.writeInteger(UInt16(1))
        bytes.writeInteger(UInt64(42))
        bytes.writeInteger(UInt64(4096))
        bytes.writeInteger(UInt32(4))
        bytes.writeBytes([1, 2, 3, 4])
        bytes.writeInteger(UInt32(0x2560_9513))
        bytes.writeInteger(UInt16(0))
        bytes.writeInteger(UInt16(0))
        bytes.writeInteger(UInt64(43))
        bytes.writeInteger(UInt64(0))
        bytes.writeInteger(UInt32(512))
        return bytes
    }

    private func decode(_ input: ByteBuffer, chunk: Int) throws -> [NBDClientMessage] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(NBDServerDecoder()))
        var input = input
        while input.readableBytes > 0 {
            try channel.writeInbound(input.readSlice(length: min(chunk, input.readableBytes))!)
        }
        var messages: [NBDClientMessage] = []
        while let message = try channel.readInbound(as: NBDClientMessage.self) {
            messages.append(message)
        }
        return messages
    }

    /// The same messages come out whether the bytes arrive whole or one at a time.
    @Test(arguments: [1, 3, 7, 1000])
    func framesAcrossArbitrarySplits(chunk: Int) throws {
        let messages = try decode(frames(), chunk: chunk)
        #expect(messages.count == 5)
        #expect(messages[0] == .clientFlags(3))
        guard case let .option(code, data) = messages[2] else { Issue.record("expected GO"); return }
        #expect(code == 7 && data.readableBytes == 6)
        guard case let .request(write) = messages[3] else { Issue.record("expected WRITE"); return }
        #expect(write.command == .write && write.cookie == 42 && write.offset == 4096 && write.payload == ByteBuffer(bytes: [1, 2, 3, 4]))
        guard case let .request(read) = messages[4] else { Issue.record("expected READ"); return }
        #expect(read.command == .read && read.length == 512 && read.payload == nil)
    }

    @Test func badRequestMagicEndsTheConnection() throws {
        var bytes = ByteBuffer()
        bytes.writeInteger(UInt32(3))
        bytes.writeInteger(UInt64(0x4948_4156_454F_5054))
        bytes.writeInteger(UInt32(1))
        bytes.writeInteger(UInt32(0))
        bytes.writeRepeatingByte(0xEE, count: 28)
        #expect(throws: NBDProtocolError.badRequestMagic(0xEEEE_EEEE)) { try decode(bytes, chunk: 1000) }
    }

    @Test func oversizedWriteEndsTheConnection() throws {
        var bytes = ByteBuffer()
        bytes.writeInteger(UInt32(3))
        bytes.writeInteger(UInt64(0x4948_4156_454F_5054))
        bytes.writeInteger(UInt32(1))
        bytes.writeInteger(UInt32(0))
        bytes.writeInteger(UInt32(0x2560_9513))
        bytes.writeInteger(UInt16(0))
        bytes.writeInteger(UInt16(1))
        bytes.writeInteger(UInt64(1))
        bytes.writeInteger(UInt64(0))
        bytes.writeInteger(UInt32.max)
        #expect(throws: NBDProtocolError.payloadTooLarge(.max)) { try decode(bytes, chunk: 1000) }
    }

    @Test func hugeOptionIsRefused() throws {
        var bytes = ByteBuffer()
        bytes.writeInteger(UInt32(3))
        bytes.writeInteger(UInt64(0x4948_4156_454F_5054))
        bytes.writeInteger(UInt32(99))
        bytes.writeInteger(UInt32(1 << 30))
        #expect(throws: NBDProtocolError.optionTooLong(1 << 30)) { try decode(bytes, chunk: 1000) }
    }
}
