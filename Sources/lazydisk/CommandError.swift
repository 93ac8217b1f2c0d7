/// A request that cannot be carried out, reported as one line on stderr.
///
/// Unlike `ValidationError`, it is found only after the image is opened (an
/// offset past its end), so no usage text follows it.
struct CommandError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
