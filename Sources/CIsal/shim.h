#ifndef LAZYDISK_CISAL_SHIM_H
#define LAZYDISK_CISAL_SHIM_H

#include <isa-l/igzip_lib.h>

#endif
