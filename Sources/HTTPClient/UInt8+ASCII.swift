extension UInt8 {
    /// The byte with an ASCII capital letter made small: header names and
    /// units compare without case, byte by byte, with no string made.
    var asciiLowercased: UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self) ? self + 32 : self
    }
}
