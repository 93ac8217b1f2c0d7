import Testing

/// The suites whose tests start many lazydisk processes at once (eight
/// serves, eight pulls), one test at a time: together they would take both
/// cores for long enough to starve the rest of the run's time limits.
@Suite(.serialized)
struct ManyProcessTests {}
