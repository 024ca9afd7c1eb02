#include "CWPSZlib.h"
#include <stdlib.h>

int wps_deflate_init_raw(z_stream *stream, int level, int window_bits, int mem_level) {
    return deflateInit2(stream, level, Z_DEFLATED, -window_bits, mem_level, Z_DEFAULT_STRATEGY);
}

int wps_inflate_init_raw(z_stream *stream, int window_bits) {
    return inflateInit2(stream, -window_bits);
}

/* Each block carries its size in a 16-byte header (keeps malloc's alignment). */
#define WPS_ZLIB_HEADER 16

/* Bytes held by every counted stream of the process. Streams are opened and closed per
   connection, never per message, so one shared atomic costs nothing on the fast path. */
static size_t wps_zlib_total;

size_t wps_zlib_total_bytes(void) {
    return __atomic_load_n(&wps_zlib_total, __ATOMIC_RELAXED);
}

static voidpf wps_zlib_alloc(voidpf opaque, uInt items, uInt size) {
    size_t bytes = (size_t)items * (size_t)size;
    unsigned char *block = malloc(bytes + WPS_ZLIB_HEADER);
    if (block == NULL) return Z_NULL;
    *(size_t *)block = bytes;
    *(size_t *)opaque += bytes;
    __atomic_fetch_add(&wps_zlib_total, bytes, __ATOMIC_RELAXED);
    return block + WPS_ZLIB_HEADER;
}

static void wps_zlib_free(voidpf opaque, voidpf address) {
    if (address == NULL) return;
    unsigned char *block = (unsigned char *)address - WPS_ZLIB_HEADER;
    *(size_t *)opaque -= *(size_t *)block;
    __atomic_fetch_sub(&wps_zlib_total, *(size_t *)block, __ATOMIC_RELAXED);
    free(block);
}

void wps_zlib_count_allocations(z_stream *stream, size_t *counter) {
    stream->zalloc = wps_zlib_alloc;
    stream->zfree = wps_zlib_free;
    stream->opaque = counter;
}
