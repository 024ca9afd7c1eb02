#ifndef CWPSOPENSSL_H
#define CWPSOPENSSL_H
#include <stddef.h>
#include <stdint.h>

/* SHA-1 of data into out[20]. */
void wps_sha1(const void *data, size_t len, uint8_t *out);
/* SHA-256 of data into out[32]. */
void wps_sha256(const void *data, size_t len, uint8_t *out);
/* HMAC-SHA256 into out[32]; returns 0 on success. */
int wps_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t *out);
/* Cryptographically secure random bytes; returns 0 on success. */
int wps_random_bytes(uint8_t *out, size_t len);
/* Constant-time comparison; returns 0 when equal. */
int wps_memcmp_consttime(const void *a, const void *b, size_t len);
#endif
