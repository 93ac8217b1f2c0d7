import Fetching
import RemoteImage

/// The fetch scheduler's counters as one line of text, for `pull`.
struct CounterReport {
    let counters: FetchCounters

    init(_ counters: FetchCounters) {
        self.counters = counters
    }

    var line: String {
        let byPurpose = FetchPurpose.allCases.compactMap { purpose -> String? in
            guard let requests = counters.requests[purpose], requests > 0 else { return nil }
            return "\(purpose) \(requests) (\(ByteFormat.size(counters.bytesFetched[purpose, default: 0])))"
        }
        return "requests: " + (byPurpose.isEmpty ? "none" : byPurpose.joined(separator: ", "))
            + "; merged \(counters.mergedRequests); waited on another fetch for \(counters.joinedChunks) chunk(s)"
            + "; missed reads \(counters.misses), hits \(counters.hits)"
    }
}
