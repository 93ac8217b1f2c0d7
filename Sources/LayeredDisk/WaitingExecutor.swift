/// The executor of the task that waits for a disk's I/O, for work a layer
/// starts on its behalf.
///
/// An unstructured task does not inherit its creator's executor preference:
/// a fetch started for a read that an NBD connection's event loop waits on
/// would run on the cooperative pool, and its answer would hop from curl's
/// thread to the pool and on to the event loop. Started on this executor, it
/// goes from curl's thread straight to the thread that waits.
public enum WaitingExecutor {
    /// Nil where the waiting code has no preference.
    @TaskLocal public static var current: (any TaskExecutor)?
}
