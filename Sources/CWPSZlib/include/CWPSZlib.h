#ifndef CWPSZLIB_H
#define CWPSZLIB_H
#include <zlib.h>

/* deflateInit2/inflateInit2 are macros Swift cannot call; raw deflate (negative window bits). */
int wps_deflate_init_raw(z_stream *stream, int level, int window_bits, int mem_level);
int wps_inflate_init_raw(z_stream *stream, int window_bits);
#endif
