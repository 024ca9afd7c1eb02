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
/* A key prepared for repeated HMAC-SHA256: NULL only when memory is exhausted. */
typedef struct wps_hmac_key wps_hmac_key;
wps_hmac_key *wps_hmac_key_new(const void *key, size_t key_len);
void wps_hmac_key_free(wps_hmac_key *key);
/* HMAC-SHA256 of data under a prepared key, into out[32]. */
void wps_hmac_sha256_keyed(const wps_hmac_key *key, const void *data, size_t len, uint8_t *out);
/* Cryptographically secure random bytes; returns 0 on success. */
int wps_random_bytes(uint8_t *out, size_t len);
/* Constant-time comparison; returns 0 when equal. */
int wps_memcmp_consttime(const void *a, const void *b, size_t len);
/* ---- TLS over memory (tls.c): see protocol-spec/tls.md ---- */
struct ssl_ctx_st;
typedef struct wps_tls_session wps_tls_session;

/* Result codes of the session calls below. */
enum { WPS_TLS_OK = 0, WPS_TLS_WANT = 1, WPS_TLS_CLOSED = 2, WPS_TLS_ERROR = -1 };

/* Drains this thread's OpenSSL error queue into buf as "err; err" (NUL-terminated); returns the length. */
size_t wps_tls_error_drain(char *buf, size_t cap);
void wps_tls_error_clear(void);
/* Versions are 12 or 13. alpn_wire is the RFC 7301 list (length-prefixed names). NULL on failure. */
struct ssl_ctx_st *wps_tls_server_ctx_new(const char *chain_path, const char *key_path, int min_version,
                                          const uint8_t *alpn_wire, size_t alpn_len);
/* ca_file NULL means the system store; insecure skips verification. NULL on failure. */
struct ssl_ctx_st *wps_tls_client_ctx_new(const char *ca_file, int insecure, int min_version, int max_version,
                                          const uint8_t *alpn_wire, size_t alpn_len);
/* Drops one reference; sessions made from the context keep their own. */
void wps_tls_ctx_free(struct ssl_ctx_st *ctx);
/* server_name (client only, may be NULL): SNI plus host name or IP verification. */
wps_tls_session *wps_tls_session_new(struct ssl_ctx_st *ctx, int is_server, const char *server_name);
void wps_tls_session_free(wps_tls_session *s);
/* Ciphertext the next calls read from; the caller keeps it alive until it resets the input. */
void wps_tls_set_input(wps_tls_session *s, const void *data, size_t len);
size_t wps_tls_input_remaining(const wps_tls_session *s);
int wps_tls_handshake(wps_tls_session *s);
/* OK with *out_n > 0 bytes of plaintext, WANT (needs ciphertext), CLOSED (close_notify) or ERROR. */
int wps_tls_read(wps_tls_session *s, void *buf, size_t cap, size_t *out_n);
/* Encrypts all of buf into the output buffer. */
int wps_tls_write(wps_tls_session *s, const void *buf, size_t len);
/* Queues close_notify. */
int wps_tls_shutdown(wps_tls_session *s);
size_t wps_tls_output_pending(const wps_tls_session *s);
const uint8_t *wps_tls_output(const wps_tls_session *s);
/* Empties the output buffer (freeing it when it grew past a few KiB). */
void wps_tls_output_consumed(wps_tls_session *s);
const char *wps_tls_protocol_version(const wps_tls_session *s);
/* Length of the negotiated ALPN name at *data, 0 when none. */
size_t wps_tls_alpn(const wps_tls_session *s, const uint8_t **data);
/* Human-readable peer verification failure, or NULL. */
const char *wps_tls_verify_error(const wps_tls_session *s);
/* Asks clients for a certificate and verifies it against the PEM CAs in ca_file; with
   require set, a client without one fails the handshake. 1 on success, 0 on failure. */
int wps_tls_server_ctx_verify_clients(struct ssl_ctx_st *ctx, const char *ca_file, int require);
/* The peer's certificate as PEM into buf (cap bytes); its length, or 0 without one or when
   it does not fit. */
size_t wps_tls_peer_certificate_pem(const wps_tls_session *s, char *buf, size_t cap);
/* SHA-1 of the peer's certificate (DER) into out[20]; 1 on success, 0 without one. */
int wps_tls_peer_certificate_sha1(const wps_tls_session *s, unsigned char *out);

/* Self-signed server certificate (certificate.c). subject_alt_names is an OpenSSL list such as
 * "DNS:localhost,IP:127.0.0.1" (may be NULL); use_rsa picks RSA 2048 over EC P-256. The key file
 * is created with mode 0600. Returns 0 on success. */
int wps_tls_make_self_signed(const char *common_name, const char *subject_alt_names, int days, int use_rsa,
                             const char *cert_path, const char *key_path);
/* Whole days until the first certificate in a PEM file expires (negative once it has);
   returns 0, or -1 when the file cannot be read. */
int wps_tls_certificate_days_left(const char *path, int *days_out);
#endif
