@testable import NBD
import Testing

@Suite("NBD request flow control")
struct NBDRequestFlowTests {
    private static func request(_ cookie: UInt64, _ command: NBDCommand = .read) -> NBDRequest {
        NBDRequest(flags: 0, type: command.rawValue, cookie: cookie, offset: 0, length: 4096, payload: nil)
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
        _ = flow.nextRequest(canWrite: true)
        flow.taskStarted()
        _ = flow.nextRequest(canWrite: true)
        flow.taskStarted()
        #expect(flow.nextRequest(canWrite: true) == nil)
        #expect(!flow.wantsRequests)

        flow.taskFinished()
        #expect(flow.nextRequest(canWrite: true)?.cookie == 3)
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
        #expect(flow.nextRequest(canWrite: true)?.cookie == 1)
        flow.taskStarted()
        #expect(flow.nextRequest(canWrite: true) == nil)
        flow.receive(Self.request(4))
        #expect(flow.isDisconnecting && !flow.isFinished && !flow.wantsRequests)

        flow.taskFinished()
        #expect(flow.isFinished)
        #expect(flow.nextRequest(canWrite: true) == nil)
    }
}
