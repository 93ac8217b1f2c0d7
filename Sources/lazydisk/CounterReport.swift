import Fetching
import RemoteImage

/// The fetch scheduler's counters as one line of text, for `pull`.
struct CounterReport {
    let statistics: FetchStatistics

    init(_ statistics: FetchStatistics) {
        self.statistics = statistics
    }

    var line: String {
        let counters = statistics.counters
        let byPurpose = FetchPurpose.allCases.compactMap { purpose -> String? in
            guard let requests = counters.requests[purpose], requests > 0 else { return nil }
            return "\(purpose) \(requests) (\(ByteFormat.size(counters.bytesFetched[purpose, default: 0])))"
        }
        return "requests: " + (byPurpose.isEmpty ? "none" : byPurpose.joined(separator: ", "))
            + "; merged \(counters.mergedRequests); waited on another fetch for \(counters.joinedChunks) chunk(s)"
            + "; missed reads \(counters.misses), hits \(statistics.hits)"
    }
}
