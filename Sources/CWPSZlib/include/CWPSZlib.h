#ifndef CWPSZLIB_H
#define CWPSZLIB_H
#include <stddef.h>
#include <zlib.h>

/* deflateInit2/inflateInit2 are macros Swift cannot call; raw deflate (negative window bits). */
int wps_deflate_init_raw(z_stream *stream, int level, int window_bits, int mem_level);
int wps_inflate_init_raw(z_stream *stream, int window_bits);

/* Routes the stream's allocations through malloc/free while keeping `*counter` equal to the
   bytes the stream holds, so callers can report zlib memory per connection. Call before init;
   `counter` must outlive the stream. */
void wps_zlib_count_allocations(z_stream *stream, size_t *counter);

/* Bytes held by all counted streams of the process together. */
size_t wps_zlib_total_bytes(void);
#endif
