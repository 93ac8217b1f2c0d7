import Foundation

/// The `pwrite64`, `fdatasync` and `fadvise64` calls of a process and its
/// threads, from `strace -f -y -xx` output, each with the position of its
/// start and end in the order strace saw them: the order the kernel ran them.
struct SyscallTrace {
    struct Call {
        /// `pwrite64`, `fdatasync` or `fadvise64`.
        let name: String
        /// The file the descriptor named (strace's `-y`, hex-escaped by `-xx`).
        let path: String
        /// A write's bytes as strace printed them.
        let bytes: [UInt8]
        /// The bytes of the file a write or an advice covers.
        let offset: UInt64
        let count: Int
        /// Positions in the trace: a call started after every call whose
        /// `end` is smaller than its `start`.
        let start: Int
        let end: Int
    }

    let calls: [Call]

    /// Parses the trace; lines strace splits (`<unfinished ...>`, then
    /// `<... name resumed>`) are joined, their start at the first.
    init(_ text: String) {
        var pending: [Substring: (text: Substring, start: Int)] = [:]
        var calls: [Call] = []
        for (position, line) in text.split(separator: "\n").enumerated() {
            guard let space = line.firstIndex(of: " ") else { continue }
            let pid = line[..<space]
            let rest = line[space...].drop { $0 == " " }
            if rest.hasSuffix("<unfinished ...>") {
                pending[pid] = (rest.dropLast("<unfinished ...>".count), position)
            } else if rest.hasPrefix("<... "), let resumed = rest.range(of: " resumed>"), let first = pending.removeValue(forKey: pid) {
                calls += Self.call(first.text + rest[resumed.upperBound...], start: first.start, end: position).map { [$0] } ?? []
            } else {
                calls += Self.call(rest, start: position, end: position).map { [$0] } ?? []
            }
        }
        self.calls = calls
    }

    private static func call(_ text: Substring, start: Int, end: Int) -> Call? {
        guard let open = text.firstIndex(of: "("), let pathStart = text.firstIndex(of: "<"),
              let pathEnd = text[pathStart...].firstIndex(of: ">")
        else { return nil }
        let name = String(text[..<open])
        let path = String(decoding: hexBytes(text[text.index(after: pathStart)..<pathEnd]), as: UTF8.self)
        if name == "fadvise64" {
            let numbers = text[pathEnd...].split(whereSeparator: { !$0.isNumber }).compactMap { UInt64($0) }
            guard numbers.count >= 2 else { return nil }
            return Call(name: name, path: path, bytes: [], offset: numbers[0], count: Int(numbers[1]), start: start, end: end)
        }
        guard name == "pwrite64" else { return Call(name: name, path: path, bytes: [], offset: 0, count: 0, start: start, end: end) }
        guard let quote = text[pathEnd...].firstIndex(of: "\""),
              let closing = text[text.index(after: quote)...].firstIndex(of: "\"")
        else { return nil }
        let bytes = hexBytes(text[text.index(after: quote)..<closing])
        let numbers = text[closing...].split(whereSeparator: { !$0.isNumber }).compactMap { UInt64($0) }
        guard numbers.count >= 2 else { return nil }
        return Call(name: name, path: path, bytes: bytes, offset: numbers[1], count: Int(numbers[0]), start: start, end: end)
    }

    /// Bytes strace's `-xx` printed as `\x41\x42…` (paths too).
    private static func hexBytes(_ escaped: Substring) -> [UInt8] {
        escaped.split(separator: "\\x", omittingEmptySubsequences: true).compactMap { UInt8($0, radix: 16) }
    }
}
