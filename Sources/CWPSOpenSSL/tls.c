/* TLS sessions over caller-owned memory: a custom BIO reads ciphertext straight from the
 * buffer the event loop passes in and appends records to one growable output buffer.
 * No sockets, no intermediate BIO pair. See protocol-spec/tls.md. */
#include "CWPSOpenSSL.h"
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

struct wps_tls_session {
    SSL *ssl;
    const unsigned char *in;
    size_t in_len;
    unsigned char *out;
    size_t out_len;
    size_t out_cap;
};

/* Output capacity kept after a drain; larger buffers are freed so idle sessions stay small. */
#define WPS_TLS_OUT_KEEP 1024

static BIO_METHOD *wps_bio_method = NULL;
static CRYPTO_ONCE wps_once = CRYPTO_ONCE_STATIC_INIT;
static int wps_alpn_index = -1;

static int wps_bio_read(BIO *bio, char *buf, int len) {
    wps_tls_session *s = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (s == NULL || len <= 0) return 0;
    if (s->in_len == 0) {
        BIO_set_retry_read(bio);
        return -1;
    }
    size_t n = s->in_len < (size_t)len ? s->in_len : (size_t)len;
    memcpy(buf, s->in, n);
    s->in += n;
    s->in_len -= n;
    return (int)n;
}

static int wps_out_reserve(wps_tls_session *s, size_t extra) {
    if (s->out_cap - s->out_len >= extra) return 1;
    size_t need = s->out_len + extra;
    size_t cap = s->out_cap == 0 ? 1024 : s->out_cap;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) return 0;
        cap *= 2;
    }
    unsigned char *grown = realloc(s->out, cap);
    if (grown == NULL) return 0;
    s->out = grown;
    s->out_cap = cap;
    return 1;
}

static int wps_bio_write(BIO *bio, const char *buf, int len) {
    wps_tls_session *s = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (s == NULL || len < 0) return -1;
    if (len == 0) return 0;
    if (!wps_out_reserve(s, (size_t)len)) return -1;
    memcpy(s->out + s->out_len, buf, (size_t)len);
    s->out_len += (size_t)len;
    return len;
}

static long wps_bio_ctrl(BIO *bio, int cmd, long num, void *ptr) {
    (void)bio;
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    default: return 0;
    }
}

static int wps_bio_create(BIO *bio) {
    BIO_set_init(bio, 1);
    return 1;
}

static void wps_alpn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    OPENSSL_free(ptr);
}

static void wps_init_once(void) {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wps memory transform");
    if (m != NULL) {
        BIO_meth_set_read(m, wps_bio_read);
        BIO_meth_set_write(m, wps_bio_write);
        BIO_meth_set_ctrl(m, wps_bio_ctrl);
        BIO_meth_set_create(m, wps_bio_create);
    }
    wps_bio_method = m;
    wps_alpn_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, wps_alpn_free);
}

static int wps_init(void) {
    if (!CRYPTO_THREAD_run_once(&wps_once, wps_init_once)) return 0;
    return wps_bio_method != NULL && wps_alpn_index >= 0;
}

size_t wps_tls_error_drain(char *buf, size_t cap) {
    size_t used = 0;
    if (cap == 0) {
        ERR_clear_error();
        return 0;
    }
    buf[0] = 0;
    unsigned long code;
    while ((code = ERR_get_error()) != 0) {
        if (used + 3 >= cap) continue; /* keep draining so the queue ends empty */
        if (used > 0) {
            memcpy(buf + used, "; ", 2);
            used += 2;
        }
        ERR_error_string_n(code, buf + used, cap - used);
        used += strlen(buf + used);
    }
    return used;
}

void wps_tls_error_clear(void) { ERR_clear_error(); }

static int wps_version(int v) { return v == 13 ? TLS1_3_VERSION : TLS1_2_VERSION; }

static int wps_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                           unsigned int inlen, void *arg) {
    (void)arg;
    const unsigned char *server = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), wps_alpn_index);
    if (server == NULL) return SSL_TLSEXT_ERR_NOACK;
    unsigned char *selected = NULL;
    unsigned char selected_len = 0;
    /* server is length-prefixed: first byte is the total wire length. */
    if (SSL_select_next_proto(&selected, &selected_len, server + 1, server[0], in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    *outlen = selected_len;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *wps_ctx_common(const SSL_METHOD *method, int min_version, int max_version) {
    if (!wps_init()) return NULL;
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (ctx == NULL) return NULL;
    if (!SSL_CTX_set_min_proto_version(ctx, wps_version(min_version)) ||
        !SSL_CTX_set_max_proto_version(ctx, wps_version(max_version))) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
}

struct ssl_ctx_st *wps_tls_server_ctx_new(const char *chain_path, const char *key_path, int min_version,
                                          const uint8_t *alpn_wire, size_t alpn_len) {
    if (alpn_len > 255) return NULL;
    SSL_CTX *ctx = wps_ctx_common(TLS_server_method(), min_version, 13);
    if (ctx == NULL) return NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, chain_path) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (alpn_len > 0) {
        unsigned char *copy = OPENSSL_malloc(alpn_len + 1);
        if (copy == NULL) {
            SSL_CTX_free(ctx);
            return NULL;
        }
        copy[0] = (unsigned char)alpn_len;
        memcpy(copy + 1, alpn_wire, alpn_len);
        if (!SSL_CTX_set_ex_data(ctx, wps_alpn_index, copy)) {
            OPENSSL_free(copy);
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_alpn_select_cb(ctx, wps_alpn_select, NULL);
    }
    return ctx;
}

struct ssl_ctx_st *wps_tls_client_ctx_new(const char *ca_file, int insecure, int min_version, int max_version,
                                          const uint8_t *alpn_wire, size_t alpn_len) {
    SSL_CTX *ctx = wps_ctx_common(TLS_client_method(), min_version, max_version);
    if (ctx == NULL) return NULL;
    if (insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int loaded = ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                                     : SSL_CTX_set_default_verify_paths(ctx);
        if (loaded != 1) {
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    /* SSL_CTX_set_alpn_protos returns 0 on success. */
    if (alpn_len > 0 && (alpn_len > 0xffff || SSL_CTX_set_alpn_protos(ctx, alpn_wire, (unsigned)alpn_len) != 0)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void wps_tls_ctx_free(struct ssl_ctx_st *ctx) { SSL_CTX_free(ctx); }

wps_tls_session *wps_tls_session_new(struct ssl_ctx_st *ctx, int is_server, const char *server_name) {
    if (ctx == NULL || !wps_init()) return NULL;
    wps_tls_session *s = calloc(1, sizeof(*s));
    if (s == NULL) return NULL;
    s->ssl = SSL_new(ctx);
    BIO *bio = s->ssl != NULL ? BIO_new(wps_bio_method) : NULL;
    if (bio == NULL) {
        SSL_free(s->ssl);
        free(s);
        return NULL;
    }
    BIO_set_data(bio, s);
    SSL_set_bio(s->ssl, bio, bio); /* one reference, owned by the SSL */
    if (is_server) {
        SSL_set_accept_state(s->ssl);
    } else {
        SSL_set_connect_state(s->ssl);
        if (server_name != NULL && server_name[0] != 0) {
            X509_VERIFY_PARAM *param = SSL_get0_param(s->ssl);
            /* An IP literal is checked against IP SANs and never sent as SNI (RFC 6066 §3). */
            if (X509_VERIFY_PARAM_set1_ip_asc(param, server_name) != 1) {
                ERR_clear_error();
                if (SSL_set_tlsext_host_name(s->ssl, server_name) != 1 || SSL_set1_host(s->ssl, server_name) != 1) {
                    wps_tls_session_free(s);
                    return NULL;
                }
            }
        }
    }
    return s;
}

void wps_tls_session_free(wps_tls_session *s) {
    if (s == NULL) return;
    SSL_free(s->ssl);
    free(s->out);
    free(s);
}

void wps_tls_set_input(wps_tls_session *s, const void *data, size_t len) {
    s->in = data;
    s->in_len = data != NULL ? len : 0;
}

size_t wps_tls_input_remaining(const wps_tls_session *s) { return s->in_len; }

static int wps_result(wps_tls_session *s, int ret) {
    switch (SSL_get_error(s->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: return WPS_TLS_WANT;
    case SSL_ERROR_ZERO_RETURN: return WPS_TLS_CLOSED;
    default: return WPS_TLS_ERROR;
    }
}

int wps_tls_handshake(wps_tls_session *s) {
    ERR_clear_error();
    int ret = SSL_do_handshake(s->ssl);
    return ret == 1 ? WPS_TLS_OK : wps_result(s, ret);
}

int wps_tls_read(wps_tls_session *s, void *buf, size_t cap, size_t *out_n) {
    ERR_clear_error();
    *out_n = 0;
    size_t n = 0;
    int ret = SSL_read_ex(s->ssl, buf, cap, &n);
    if (ret == 1) {
        *out_n = n;
        return WPS_TLS_OK;
    }
    return wps_result(s, ret);
}

int wps_tls_write(wps_tls_session *s, const void *buf, size_t len) {
    ERR_clear_error();
    size_t written = 0;
    if (len == 0) return WPS_TLS_OK;
    int ret = SSL_write_ex(s->ssl, buf, len, &written);
    if (ret == 1 && written == len) return WPS_TLS_OK;
    return ret == 1 ? WPS_TLS_ERROR : wps_result(s, ret);
}

int wps_tls_shutdown(wps_tls_session *s) {
    ERR_clear_error();
    int ret = SSL_shutdown(s->ssl);
    return ret >= 0 ? WPS_TLS_OK : wps_result(s, ret);
}

size_t wps_tls_output_pending(const wps_tls_session *s) { return s->out_len; }

const uint8_t *wps_tls_output(const wps_tls_session *s) { return s->out; }

void wps_tls_output_consumed(wps_tls_session *s) {
    s->out_len = 0;
    if (s->out_cap > WPS_TLS_OUT_KEEP) {
        free(s->out);
        s->out = NULL;
        s->out_cap = 0;
    }
}

const char *wps_tls_protocol_version(const wps_tls_session *s) { return SSL_get_version(s->ssl); }

size_t wps_tls_alpn(const wps_tls_session *s, const uint8_t **data) {
    unsigned len = 0;
    *data = NULL;
    SSL_get0_alpn_selected(s->ssl, data, &len);
    return len;
}

const char *wps_tls_verify_error(const wps_tls_session *s) {
    long result = SSL_get_verify_result(s->ssl);
    return result == X509_V_OK ? NULL : X509_verify_cert_error_string(result);
}

int wps_tls_server_ctx_verify_clients(struct ssl_ctx_st *ctx, const char *ca_file, int require) {
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) return 0;
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca_file);
    if (names == NULL) return 0;
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (require ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
    return 1;
}

size_t wps_tls_peer_certificate_pem(const wps_tls_session *s, char *buf, size_t cap) {
    X509 *cert = SSL_get1_peer_certificate(s->ssl);
    if (cert == NULL) return 0;
    BIO *bio = BIO_new(BIO_s_mem());
    size_t written = 0;
    if (bio != NULL && PEM_write_bio_X509(bio, cert) == 1) {
        char *data = NULL;
        long len = BIO_get_mem_data(bio, &data);
        if (len > 0 && (size_t)len <= cap) {
            memcpy(buf, data, (size_t)len);
            written = (size_t)len;
        }
    }
    BIO_free(bio);
    X509_free(cert);
    return written;
}

int wps_tls_peer_certificate_sha1(const wps_tls_session *s, unsigned char *out) {
    X509 *cert = SSL_get1_peer_certificate(s->ssl);
    if (cert == NULL) return 0;
    unsigned int len = 0;
    int ok = X509_digest(cert, EVP_sha1(), out, &len) == 1 && len == 20;
    X509_free(cert);
    return ok;
}
