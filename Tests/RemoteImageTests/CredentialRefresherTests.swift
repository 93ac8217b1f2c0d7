import HTTPClient
import Synchronization
import Testing

/// The refresh rules, on a source that counts its loads: requests refused
/// together cause one refresh, later refreshes wait out the floor, and a
/// request that saw newer credentials gets them without a load.
@Suite("Credential refresher")
struct CredentialRefresherTests {
    final class CountingSource: CredentialSource {
        let loads = Atomic<Int>(0)

        func load() async throws -> Credentials {
            let count = loads.add(1, ordering: .relaxed).newValue
            return Credentials(headers: [HTTPHeader(name: "Authorization", value: "Bearer token-\(count)")])
        }
    }

    @Test func refusalsTogetherCauseOneRefresh() async throws {
        let source = CountingSource()
        let refresher = CredentialRefresher(source: source, initial: try await source.load(), minimumInterval: .milliseconds(1))
        let seen = refresher.current.generation
        let generations = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<50 {
                group.addTask { try await refresher.refresh(after: seen).generation }
            }
            return try await group.reduce(into: Set<Int>()) { $0.insert($1) }
        }
        #expect(generations == [seen + 1])
        #expect(source.loads.load(ordering: .relaxed) == 2, "one load at start, one refresh")
        #expect(refresher.current.credentials.headers.first?.value == "Bearer token-2")
        // A request that already has the newer credentials gets them as they are.
        #expect(try await refresher.refresh(after: seen).generation == seen + 1)
        #expect(source.loads.load(ordering: .relaxed) == 2)
    }

    @Test func refreshesAreAtLeastTheFloorApart() async throws {
        let source = CountingSource()
        let refresher = CredentialRefresher(source: source, initial: try await source.load(), minimumInterval: .milliseconds(300))
        let clock = ContinuousClock()
        let start = clock.now
        let first = try await refresher.refresh(after: 0)
        _ = try await refresher.refresh(after: first.generation)
        #expect(clock.now - start >= .milliseconds(600), "two refreshes after the start load came sooner than the floor allows")
        #expect(source.loads.load(ordering: .relaxed) == 3)
    }

    @Test func fixedCredentialsAreNotRefreshable() {
        #expect(!CredentialRefresher.fixed().isRefreshable)
    }
}
