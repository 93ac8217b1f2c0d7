extension StringProtocol {
    /// The text without the whitespace around it: spaces, tabs and line ends
    /// (`Character.isWhitespace`). FoundationEssentials has no
    /// `trimmingCharacters(in:)`, and full Foundation is not linked.
    var trimmingWhitespace: String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else {
            return ""
        }
        return String(self[first...last])
    }
}
