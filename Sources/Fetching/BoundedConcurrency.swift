/// Runs `work` on every item of a queue, at most `limit` at once, handing
/// each result to `collect` as it finishes; `collect` may queue more items
/// (a run another process was fetching, to look at again). Returns when the
/// queue is empty and nothing runs; the first error cancels the rest.
func withBoundedConcurrency<Item: Sendable, Result: Sendable>(
    _ items: [Item],
    limit: Int,
    work: @escaping @Sendable (Item) async throws -> Result,
    collect: (Result) throws -> [Item]
) async throws {
    var queue = items[...]
    try await withThrowingTaskGroup(of: Result.self) { group in
        var running = 0
        while running > 0 || !queue.isEmpty {
            while running < max(1, limit), let item = queue.popFirst() {
                group.addTask { try await work(item) }
                running += 1
            }
            guard let result = try await group.next() else { break }
            running -= 1
            queue += try collect(result)
        }
    }
}
