#include "CWPSOpenSSL.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

void wps_sha1(const void *data, size_t len, uint8_t *out) { SHA1(data, len, out); }
void wps_sha256(const void *data, size_t len, uint8_t *out) { SHA256(data, len, out); }

int wps_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t *out) {
    unsigned int out_len = 32;
    return HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len) == NULL ? -1 : 0;
}

int wps_random_bytes(uint8_t *out, size_t len) { return RAND_bytes(out, (int)len) == 1 ? 0 : -1; }

int wps_memcmp_consttime(const void *a, const void *b, size_t len) { return CRYPTO_memcmp(a, b, len); }
