#define _GNU_SOURCE 1
#include <fcntl.h>
#include <unistd.h>
#include "CProcessShims.h"

int cprocess_pipe_cloexec(int descriptors[2]) {
    return pipe2(descriptors, O_CLOEXEC);
}

int cprocess_addclosefrom(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}
