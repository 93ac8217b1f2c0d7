#ifndef LAZYDISK_CDEFLATE_SHIM_H
#define LAZYDISK_CDEFLATE_SHIM_H

#include <libdeflate.h>

#endif
