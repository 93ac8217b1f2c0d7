#ifndef LAZYDISK_CZSTD_SHIM_H
#define LAZYDISK_CZSTD_SHIM_H

#include <zstd.h>

#endif
