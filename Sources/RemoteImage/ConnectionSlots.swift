import Synchronization

/// The scheduler's share of the client's connections: one slot a request.
///
/// Requests for waiting reads take any free slot and queue ahead of
/// background requests; background requests leave some slots free for reads,
/// so a read starts at once even while a pull keeps every other connection
/// busy. A queued background request can be promoted when a read comes to
/// wait for it.
final class ConnectionSlots: Sendable {
    /// A queued request's place, so it can be promoted.
    struct Ticket: Hashable, Sendable {
        fileprivate let id: Int
    }

    private struct Waiter {
        let ticket: Ticket
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var free: Int
        var nextTicket = 0
        var foreground: [Waiter] = []
        var background: [Waiter] = []
        /// Tickets made and not yet released.
        var outstanding: Set<Ticket> = []
        var promoted: Set<Ticket> = []
    }

    private let state: Mutex<State>
    private let reservedForForeground: Int

    init(count: Int, reservedForForeground: Int) {
        precondition(count > 0)
        state = Mutex(State(free: count))
        self.reservedForForeground = min(reservedForForeground, count - 1)
    }

    func makeTicket() -> Ticket {
        state.withLock { state in
            state.nextTicket += 1
            let ticket = Ticket(id: state.nextTicket)
            state.outstanding.insert(ticket)
            return ticket
        }
    }

    /// Waits for a slot. Not cancellable: requests are only started by
    /// tasks that finish them, so a slot is never lost.
    func acquire(_ ticket: Ticket, foreground: Bool) async {
        await withCheckedContinuation { continuation in
            let granted = state.withLock { state in
                let isForeground = foreground || state.promoted.remove(ticket) != nil
                if isForeground ? state.free > 0 : state.free > reservedForForeground && state.foreground.isEmpty {
                    state.free -= 1
                    return true
                }
                let waiter = Waiter(ticket: ticket, continuation: continuation)
                if isForeground { state.foreground.append(waiter) } else { state.background.append(waiter) }
                return false
            }
            if granted { continuation.resume() }
        }
    }

    /// Requests waiting for a slot.
    var waitingCount: Int {
        state.withLock { $0.foreground.count + $0.background.count }
    }

    /// Moves a request ahead of the background queue, whether it waits
    /// already or is about to.
    func promote(_ ticket: Ticket) {
        state.withLock { state in
            if let index = state.background.firstIndex(where: { $0.ticket == ticket }) {
                state.foreground.append(state.background.remove(at: index))
            } else if state.outstanding.contains(ticket) {
                state.promoted.insert(ticket)
            }
        }
    }

    /// Gives a slot back, handing it to the next waiter in priority order.
    func release(_ ticket: Ticket) {
        let next = state.withLock { state -> Waiter? in
            state.outstanding.remove(ticket)
            state.promoted.remove(ticket)
            if !state.foreground.isEmpty {
                return state.foreground.removeFirst()
            }
            if state.free + 1 > reservedForForeground, !state.background.isEmpty {
                return state.background.removeFirst()
            }
            state.free += 1
            return nil
        }
        next?.continuation.resume()
    }
}
