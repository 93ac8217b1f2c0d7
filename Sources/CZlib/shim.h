#ifndef LAZYDISK_CZLIB_SHIM_H
#define LAZYDISK_CZLIB_SHIM_H

#include <zlib.h>

/* inflateInit2 is a macro, which Swift cannot call: raw deflate (no zlib
   header), as qcow2 stores compressed clusters, with the largest window. */
static inline int czlib_inflate_init_raw(z_stream *stream) {
    return inflateInit2(stream, -15);
}

#endif
