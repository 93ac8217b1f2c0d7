/// Prints `label  value` lines with the values in one column, the layout of
/// `info` and `cache status`.
func printLabeledRows(_ rows: [(String, String)]) {
    for (label, value) in rows {
        let column = label.prefix(15)
        print(column + String(repeating: " ", count: 15 - column.count) + value)
    }
}
