import Fetching
import FileCache
import RemoteImage

/// Fetches what a boot trace names, in the trace's order, ahead of the
/// guest: the chunks a boot read first arrive first.
///
/// The trace is taken in batches of about ``batchBytes``; each batch is one
/// fill, so nearby chunks share requests, and `concurrency` batches run at
/// once.
struct TraceReplay {
    static let batchBytes: UInt64 = 4 << 20

    let trace: BootTrace
    let scheduler: FetchScheduler
    let concurrency: Int

    func run() async throws -> FetchScheduler.FillOutcome {
        let layout = scheduler.layout
        var batches: [[Range<Int>]] = [[]]
        var batchBytes: UInt64 = 0
        for range in trace.byteRanges(within: layout.diskBytes) {
            if batchBytes >= Self.batchBytes {
                batches.append([])
                batchBytes = 0
            }
            batches[batches.count - 1].append(layout.chunks(overlapping: range))
            batchBytes += UInt64(range.count)
        }
        return try await withThrowingTaskGroup(of: FetchScheduler.FillOutcome.self) { group in
            var total = FetchScheduler.FillOutcome()
            var pending = batches.filter { !$0.isEmpty }[...]
            var running = 0
            while running > 0 || !pending.isEmpty {
                while running < concurrency, let batch = pending.popFirst() {
                    group.addTask { try await scheduler.fill(batch) }
                    running += 1
                }
                guard let outcome = try await group.next() else { break }
                running -= 1
                total.add(outcome)
            }
            return total
        }
    }
}
