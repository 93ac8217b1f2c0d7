#ifndef LAZYDISK_CMALLOC_SHIM_H
#define LAZYDISK_CMALLOC_SHIM_H

#include <malloc.h>

/// Serves allocations of at least `bytes` with mmap, and turns glibc's
/// dynamic raising of that threshold off (see LazyDisk.swift).
static inline int cmalloc_set_mmap_threshold(int bytes) {
    return mallopt(M_MMAP_THRESHOLD, bytes);
}

#endif
