#define OPENSSL_SUPPRESS_DEPRECATED
#include "CWPSOpenSSL.h"
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <string.h>

/* The low-level digest calls are deprecated in OpenSSL 3 but kept for good reason here:
   they run the same assembly as EVP, while EVP's one-shots (and SHA1() itself) look the
   algorithm up on every call, which cost more than hashing a WebSocket key or a token. */

void wps_sha1(const void *data, size_t len, uint8_t *out) {
    SHA_CTX ctx;
    SHA1_Init(&ctx);
    SHA1_Update(&ctx, data, len);
    SHA1_Final(out, &ctx);
}

void wps_sha256(const void *data, size_t len, uint8_t *out) {
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, data, len);
    SHA256_Final(out, &ctx);
}

/* HMAC-SHA256 (RFC 2104) keeps the hash states after the inner and outer padded key blocks,
   so each MAC hashes only the message and the inner digest. */
struct wps_hmac_key {
    SHA256_CTX inner;
    SHA256_CTX outer;
};

static void wps_hmac_key_init(struct wps_hmac_key *state, const void *key, size_t key_len) {
    uint8_t block[64] = {0};
    uint8_t pad[64];
    if (key_len > sizeof block) {
        wps_sha256(key, key_len, block);
    } else if (key_len > 0) {
        memcpy(block, key, key_len);
    }
    for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&state->inner);
    SHA256_Update(&state->inner, pad, sizeof pad);
    for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&state->outer);
    SHA256_Update(&state->outer, pad, sizeof pad);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
}

wps_hmac_key *wps_hmac_key_new(const void *key, size_t key_len) {
    wps_hmac_key *state = OPENSSL_malloc(sizeof *state);
    if (state != NULL) wps_hmac_key_init(state, key, key_len);
    return state;
}

void wps_hmac_key_free(wps_hmac_key *state) { OPENSSL_clear_free(state, sizeof *state); }

void wps_hmac_sha256_keyed(const wps_hmac_key *state, const void *data, size_t len, uint8_t *out) {
    SHA256_CTX ctx = state->inner;
    uint8_t inner[32];
    SHA256_Update(&ctx, data, len);
    SHA256_Final(inner, &ctx);
    ctx = state->outer;
    SHA256_Update(&ctx, inner, sizeof inner);
    SHA256_Final(out, &ctx);
    OPENSSL_cleanse(inner, sizeof inner);
    OPENSSL_cleanse(&ctx, sizeof ctx);
}

int wps_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t *out) {
    struct wps_hmac_key state;
    wps_hmac_key_init(&state, key, key_len);
    wps_hmac_sha256_keyed(&state, data, len, out);
    OPENSSL_cleanse(&state, sizeof state);
    return 0;
}

/* Small requests (connection ids) are served from a per-thread pool refilled from the CSPRNG,
   because each RAND_bytes call in OpenSSL 3 costs a process-id check and provider dispatch.
   Served bytes are wiped from the pool. The process never forks, so the pool is never shared. */
enum { WPS_POOL_BYTES = 4096, WPS_POOL_MAX_REQUEST = 64 };
static __thread uint8_t wps_pool[WPS_POOL_BYTES];
static __thread size_t wps_pool_left;

int wps_random_bytes(uint8_t *out, size_t len) {
    if (len > WPS_POOL_MAX_REQUEST) return RAND_bytes(out, (int)len) == 1 ? 0 : -1;
    if (wps_pool_left < len) {
        if (RAND_bytes(wps_pool, WPS_POOL_BYTES) != 1) return -1;
        wps_pool_left = WPS_POOL_BYTES;
    }
    uint8_t *source = wps_pool + (WPS_POOL_BYTES - wps_pool_left);
    memcpy(out, source, len);
    OPENSSL_cleanse(source, len);
    wps_pool_left -= len;
    return 0;
}

int wps_memcmp_consttime(const void *a, const void *b, size_t len) { return CRYPTO_memcmp(a, b, len); }
