#ifndef C_PROCESS_SHIMS_H
#define C_PROCESS_SHIMS_H

#include <spawn.h>

// glibc declares pipe2 and posix_spawn_file_actions_addclosefrom_np only for
// _GNU_SOURCE, which Swift's Glibc module does not define (and a header that
// defines it clashes with that module): CProcessShims.c calls them.

/// pipe2(descriptors, O_CLOEXEC): both ends close-on-exec from the moment
/// they exist.
int cprocess_pipe_cloexec(int descriptors[2]);

/// Closes every descriptor from `lowest` up in the spawned child.
int cprocess_addclosefrom(posix_spawn_file_actions_t *actions, int lowest);

#endif
