/// Bytes that look random, made fast (SplitMix64): test images whose
/// blocks all differ.
func pseudoRandomBytes(count: Int, seed: UInt64 = 0x9e37_79b9_7f4a_7c15) -> [UInt8] {
    var state = seed
    return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        let words = count / 8
        UnsafeMutableRawBufferPointer(buffer).withMemoryRebound(to: UInt64.self) { memory in
            for index in 0..<words {
                state &+= 0x9e37_79b9_7f4a_7c15
                var mixed = state
                mixed = (mixed ^ (mixed >> 30)) &* 0xbf58_476d_1ce4_e5b9
                mixed = (mixed ^ (mixed >> 27)) &* 0x94d0_49bb_1331_11eb
                memory[index] = mixed ^ (mixed >> 31)
            }
        }
        for index in words * 8..<count { buffer[index] = UInt8(truncatingIfNeeded: index) }
        initialized = count
    }
}
