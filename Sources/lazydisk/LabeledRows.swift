/// Prints `label  value` lines with the values in one column, the layout of
/// `info` and `cache status`.
func printLabeledRows(_ rows: [(String, String)]) {
    for (label, value) in rows {
        print(label.padding(toLength: 15, withPad: " ", startingAt: 0) + value)
    }
}
