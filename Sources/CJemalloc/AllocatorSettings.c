#include "CJemalloc.h"

// jemalloc serves every allocation of the process, libcurl's and the Swift
// runtime's included: a cold read allocates in bursts as deep as the queue,
// across the event loop and curl's thread, where glibc's per-thread cache
// (7 blocks a size) spills into locked arenas. docs/benchmarks.md has the
// measurements.
//
// - narenas:1: one arena for every thread, so memory one thread frees is
//   reused by the next thread that allocates; per-thread caches still serve
//   the small sizes without the arena's lock. With jemalloc's default of four
//   arenas a core, `serve --no-cache` kept each arena's freed pages apart and
//   peaked past its 64 MiB.
// - dirty_decay_ms:10: pages freed (reply buffers, curl's receive buffers)
//   go back to the system within 10 ms rather than jemalloc's 10 s, which
//   bounds what a busy process keeps resident; at 0 every free is an madvise,
//   which costs a cold read more CPU than glibc.
// - muzzy_decay_ms:0: those pages are returned outright (MADV_DONTNEED), not
//   lazily (MADV_FREE), whose pages still count as resident until the kernel
//   wants them.
const char *malloc_conf = "narenas:1,dirty_decay_ms:10,muzzy_decay_ms:0";
