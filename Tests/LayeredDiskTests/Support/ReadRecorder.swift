import LayeredDisk
import Synchronization

/// A read observer that keeps every byte range it is shown, and every one
/// it is told has finished, in order.
final class ReadRecorder: ReadObserver {
    private let recorded = Mutex<[Range<UInt64>]>([])
    private let recordedFinished = Mutex<[Range<UInt64>]>([])

    var reads: [Range<UInt64>] { recorded.withLock { $0 } }
    var finished: [Range<UInt64>] { recordedFinished.withLock { $0 } }

    func observeRead(_ bytes: Range<UInt64>) {
        recorded.withLock { $0.append(bytes) }
    }

    func readFinished(_ bytes: Range<UInt64>) {
        recordedFinished.withLock { $0.append(bytes) }
    }
}
