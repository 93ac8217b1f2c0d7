@testable import NBD
import Testing

@Suite("NBD request flow control")
struct NBDRequestFlowTests {
    private static func request(_ cookie: UInt64, _ command: NBDCommand = .read, length: UInt32 = 4096) -> NBDRequest {
        NBDRequest(flags: 0, type: command.rawValue, cookie: cookie, offset: 0, length: length, payload: nil)
    }

    private static func drain(_ flow: inout NBDRequestFlow, canWrite: Bool = true) -> [UInt64] {
        var started: [UInt64] = []
        while let request = flow.nextRequest(canWrite: canWrite) {
            started.append(request.cookie)
        }
        return started
    }

    @Test func requestsStartInArrivalOrderAndReadingGoesOnWhenNoneWait() {
        var flow = NBDRequestFlow(maximumInFlight: 4)
        #expect(flow.wantsRequests)
        for cookie in 1...3 {
            flow.receive(Self.request(UInt64(cookie)))
        }
        #expect(!flow.wantsRequests)
        #expect(Self.drain(&flow) == [1, 2, 3])
        #expect(flow.wantsRequests)
    }

    @Test func tasksInFlightHoldBackTheRestUntilOneIsAnswered() {
        var flow = NBDRequestFlow(maximumInFlight: 2)
        for cookie in 1...4 {
            flow.receive(Self.request(UInt64(cookie)))
        }
        let first = flow.nextRequest(canWrite: true)!
        flow.taskStarted(first)
        flow.taskStarted(flow.nextRequest(canWrite: true)!)
        #expect(flow.nextRequest(canWrite: true) == nil)
        #expect(!flow.wantsRequests)

        flow.taskFinished(first)
        #expect(flow.nextRequest(canWrite: true)?.cookie == 3)
    }

    /// nbdcopy's 64 reads of 256 KiB a connection: only as many start as
    /// the byte budget holds; a trim, which holds no data, is not held back
    /// by it; a read larger than the budget starts once it is alone.
    @Test func theDataInFlightStaysWithinTheBudget() {
        var flow = NBDRequestFlow(maximumInFlight: 64, maximumBytesInFlight: 1 << 20)
        for cookie in 1...64 {
            flow.receive(Self.request(UInt64(cookie), length: 256 << 10))
        }
        var started: [NBDRequest] = []
        while let request = flow.nextRequest(canWrite: true) {
            flow.taskStarted(request)
            started.append(request)
        }
        #expect(started.map(\.cookie) == [1, 2, 3, 4])
        #expect(flow.bytesInFlight == 1 << 20)
        flow.taskFinished(started[0])
        #expect(flow.nextRequest(canWrite: true)?.cookie == 5)

        var trims = NBDRequestFlow(maximumInFlight: 64, maximumBytesInFlight: 1 << 20)
        trims.receive(Self.request(1, length: 1 << 20))
        trims.receive(Self.request(2, .trim, length: 64 << 20))
        trims.receive(Self.request(3, length: 4 << 20))
        let read = trims.nextRequest(canWrite: true)!
        trims.taskStarted(read)
        let trim = trims.nextRequest(canWrite: true)!
        trims.taskStarted(trim)
        #expect(trim.cookie == 2)
        #expect(trims.nextRequest(canWrite: true) == nil)
        trims.taskFinished(read)
        trims.taskFinished(trim)
        #expect(trims.nextRequest(canWrite: true)?.cookie == 3)
    }

    @Test func nothingStartsWhileTheSocketIsBackedUp() {
        var flow = NBDRequestFlow(maximumInFlight: 4)
        flow.receive(Self.request(1))
        #expect(Self.drain(&flow, canWrite: false).isEmpty)
        #expect(!flow.wantsRequests)
        #expect(Self.drain(&flow) == [1])
    }

    /// Requests before NBD_CMD_DISC are answered; anything after it is not,
    /// and the connection is finished once the tasks in flight are.
    @Test func disconnectFinishesAfterTheRequestsInFlight() {
        var flow = NBDRequestFlow(maximumInFlight: 4)
        flow.receive(Self.request(1))
        flow.receive(Self.request(2, .disconnect))
        flow.receive(Self.request(3))
        let first = flow.nextRequest(canWrite: true)
        #expect(first?.cookie == 1)
        flow.taskStarted(first!)
        #expect(flow.nextRequest(canWrite: true) == nil)
        flow.receive(Self.request(4))
        #expect(flow.isDisconnecting && !flow.isFinished && !flow.wantsRequests)

        flow.taskFinished(first!)
        #expect(flow.isFinished)
        #expect(flow.nextRequest(canWrite: true) == nil)
    }
}
