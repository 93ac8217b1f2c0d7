import CoreMetrics
import Prometheus

/// swift-metrics' backend for `serve --metrics`: every metric goes to one
/// Prometheus registry with its ``MetricHelp`` text (swift-prometheus's own
/// factory registers none, and a registry refuses the same name with two
/// help texts, so the text must come in here).
struct DescribedPrometheusFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    /// HTTP requests take from a millisecond (a local cache tier) to tens of
    /// seconds (a slow link and a large fill request).
    private static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
    ]
    private static let valueBuckets: [Double] = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000]

    /// The label is the whole metric name (suffix included), as the
    /// libraries spell it.
    private static func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: MetricHelp.text(for: label))
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: Self.descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: Self.descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        aggregate
            ? registry.makeValueHistogram(descriptor: Self.descriptor(label), labels: dimensions, buckets: Self.valueBuckets)
            : registry.makeGauge(descriptor: Self.descriptor(label), labels: dimensions)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: Self.descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(descriptor: Self.descriptor(label), labels: dimensions, buckets: Self.durationBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        (handler as? Prometheus.Counter).map(registry.unregisterCounter)
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        (handler as? Prometheus.Counter).map(registry.unregisterCounter)
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        switch handler {
        case let gauge as Prometheus.Gauge: registry.unregisterGauge(gauge)
        case let histogram as ValueHistogram: registry.unregisterValueHistogram(histogram)
        default: break
        }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        (handler as? Prometheus.Gauge).map(registry.unregisterGauge)
    }

    func destroyTimer(_ handler: any TimerHandler) {
        (handler as? DurationHistogram).map(registry.unregisterDurationHistogram)
    }
}
