import ArgumentParser

/// A size or offset given on the command line: plain bytes, or with a binary
/// suffix (`512`, `4K`, `4M`, `1G`, `2T`; `KiB`-style and `B` spellings too).
struct ByteCount: ExpressibleByArgument, Hashable {
    var bytes: UInt64

    init(bytes: UInt64) {
        self.bytes = bytes
    }

    init?(argument: String) {
        var text = argument.uppercased()
        for suffix in ["IB", "B"] where text.hasSuffix(suffix) && text.count > suffix.count {
            text.removeLast(suffix.count)
            break
        }
        let shifts: [Character: UInt64] = ["K": 10, "M": 20, "G": 30, "T": 40]
        var shift: UInt64 = 0
        if let last = text.last, let found = shifts[last] {
            shift = found
            text.removeLast()
        }
        guard let value = UInt64(text) else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow else { return nil }
        self.bytes = bytes
    }

    static var defaultCompletionKind: CompletionKind { .default }

    var defaultValueDescription: String { "\(bytes)" }
}
