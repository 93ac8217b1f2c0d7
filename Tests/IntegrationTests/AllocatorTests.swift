import Testing

/// The allocator `lazydisk` runs on: jemalloc, with the options the
/// `CJemalloc` target compiles in (docs/benchmarks.md has why).
@Suite("the process's allocator")
struct AllocatorTests {
    @Test func lazydiskAllocatesWithJemallocAndItsOptions() async throws {
        // jemalloc reads the environment's options after the compiled-in
        // ones; `stats_print` has it print every option in force, to stderr,
        // as the process exits. Under glibc's allocator nothing is printed.
        let result = try await LazyDiskRun.run(["--version"], environment: ["MALLOC_CONF": "stats_print:true"])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.error.contains("opt.narenas: 1"))
        #expect(result.error.contains("opt.dirty_decay_ms: 10"))
        #expect(result.error.contains("opt.muzzy_decay_ms: 0"))
    }
}
