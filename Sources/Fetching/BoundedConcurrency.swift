/// Runs `work` on each item `next` hands out, at most `limit` at once,
/// handing each result to `collect` as it finishes. Items are taken only
/// when a slot is free, so `next` may decide each from what is known by
/// then. Returns when `next` has nothing more and nothing runs; the first
/// error cancels the rest.
func withBoundedConcurrency<Item: Sendable, Result: Sendable>(
    limit: Int,
    next: () throws -> Item?,
    work: @escaping @Sendable (Item) async throws -> Result,
    collect: (Result) throws -> Void
) async throws {
    try await withThrowingTaskGroup(of: Result.self) { group in
        var running = 0
        while true {
            while running < max(1, limit), let item = try next() {
                group.addTask { try await work(item) }
                running += 1
            }
            guard running > 0, let result = try await group.next() else { break }
            running -= 1
            try collect(result)
        }
    }
}

/// The same over a list of items.
func withBoundedConcurrency<Item: Sendable, Result: Sendable>(
    _ items: [Item],
    limit: Int,
    work: @escaping @Sendable (Item) async throws -> Result,
    collect: (Result) throws -> Void
) async throws {
    var queue = items[...]
    try await withBoundedConcurrency(limit: limit, next: { queue.popFirst() }, work: work, collect: collect)
}
