import HTTPClient

/// The bytes at an object's two ends that a caller reads first on opening
/// it (a format's magic at the start, a footer at the end). They are asked
/// for beside the probe, before the object's size is known (the end by a
/// suffix range), so they cost no round trip of their own.
public struct EdgeReads: Sendable, Hashable {
    /// How many of the object's first bytes to read.
    public var leading: UInt64
    /// How many of the object's last bytes to read.
    public var trailing: UInt64

    public init(leading: UInt64 = 0, trailing: UInt64 = 0) {
        self.leading = leading
        self.trailing = trailing
    }

    /// The requests that read the edges: the first bytes by their span, the
    /// last by a suffix range.
    var requests: [RequestedBytes] {
        (leading > 0 ? [.span(0...leading - 1)] : []) + (trailing > 0 ? [.last(trailing)] : [])
    }

    /// Where the edges lie in an object of `size` bytes.
    func ranges(inObjectOf size: UInt64) -> [Range<UInt64>] {
        requests.compactMap { Self.bytes($0, inObjectOf: size) }.map { $0.lowerBound..<$0.upperBound + 1 }
    }

    /// The bytes of an object of `size` that `requested` names, as a server
    /// serving ranges answers it: a span cut at the object's end, a suffix
    /// the whole object when the object is shorter. Nil when none of them
    /// exist.
    static func bytes(_ requested: RequestedBytes, inObjectOf size: UInt64) -> ClosedRange<UInt64>? {
        switch requested {
        case let .span(span):
            span.lowerBound < size ? span.lowerBound...min(span.upperBound, size - 1) : nil
        case let .last(count):
            size > 0 && count > 0 ? size - min(count, size)...size - 1 : nil
        }
    }
}
