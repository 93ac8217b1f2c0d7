#ifndef LAZYDISK_CJEMALLOC_H
#define LAZYDISK_CJEMALLOC_H

/// The options jemalloc reads at its first allocation (jemalloc(3), "TUNING":
/// a program sets them by defining this symbol); AllocatorSettings.c says why
/// each is chosen. Linking this target makes jemalloc the process's allocator.
extern const char *malloc_conf;

#endif
