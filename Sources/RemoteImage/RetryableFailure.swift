/// A failure that may go away if the request is sent again, with the delay
/// the server asked for, if any.
struct RetryableFailure: Error {
    var error: RemoteImageError
    var retryAfter: Duration?
}
