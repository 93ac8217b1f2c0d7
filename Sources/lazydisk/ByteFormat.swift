/// Human-readable sizes and rates in binary units ("1.5 GiB", "412.0 MiB/s").
enum ByteFormat {
    static func size(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : "\(rounded(value)) \(units[unit])"
    }

    static func rate(_ bytes: UInt64, over duration: Duration) -> String {
        let seconds = duration.seconds
        guard seconds > 0 else { return "-" }
        return size(UInt64(Double(bytes) / seconds)) + "/s"
    }

    static func rounded(_ value: Double) -> String {
        let tenths = (value * 10).rounded() / 10
        return String(tenths)
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
