#include "CWPSOpenSSL.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>

void wps_sha1(const void *data, size_t len, uint8_t *out) { SHA1(data, len, out); }
void wps_sha256(const void *data, size_t len, uint8_t *out) { SHA256(data, len, out); }

/* HMAC-SHA256 (RFC 2104) over a digest fetched once and a context kept per thread.
   OpenSSL 3's one-shot HMAC() looks the algorithm up and builds a MAC context on every
   call, which was most of the cost of checking a token. */
static pthread_once_t wps_sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *wps_sha256_md;
static __thread EVP_MD_CTX *wps_sha256_ctx;

static void wps_fetch_sha256(void) { wps_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

static int wps_digest2(const uint8_t *first, size_t first_len, const void *second, size_t second_len, uint8_t *out) {
    unsigned int out_len = 32;
    if (EVP_DigestInit_ex(wps_sha256_ctx, wps_sha256_md, NULL) != 1) return -1;
    if (EVP_DigestUpdate(wps_sha256_ctx, first, first_len) != 1) return -1;
    if (second_len > 0 && EVP_DigestUpdate(wps_sha256_ctx, second, second_len) != 1) return -1;
    return EVP_DigestFinal_ex(wps_sha256_ctx, out, &out_len) == 1 ? 0 : -1;
}

int wps_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t *out) {
    pthread_once(&wps_sha256_once, wps_fetch_sha256);
    if (wps_sha256_ctx == NULL) wps_sha256_ctx = EVP_MD_CTX_new();
    if (wps_sha256_md == NULL || wps_sha256_ctx == NULL) {
        unsigned int out_len = 32;
        return HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len) == NULL ? -1 : 0;
    }
    uint8_t block[64] = {0};
    uint8_t pad[64];
    uint8_t inner[32];
    int status = 0;
    if (key_len > sizeof block) {
        status = wps_digest2(key, key_len, NULL, 0, block);
    } else if (key_len > 0) {
        memcpy(block, key, key_len);
    }
    if (status == 0) {
        for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x36;
        status = wps_digest2(pad, sizeof pad, data, len, inner);
    }
    if (status == 0) {
        for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x5c;
        status = wps_digest2(pad, sizeof pad, inner, sizeof inner, out);
    }
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    return status;
}

int wps_random_bytes(uint8_t *out, size_t len) { return RAND_bytes(out, (int)len) == 1 ? 0 : -1; }

int wps_memcmp_consttime(const void *a, const void *b, size_t len) { return CRYPTO_memcmp(a, b, len); }
