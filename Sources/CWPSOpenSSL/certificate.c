/* Self-signed certificates for development servers (`wps-server --tls` without files). */
#include "CWPSOpenSSL.h"
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <unistd.h>

static int wps_add_ext(X509 *cert, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) return 0;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

static int wps_write_key(EVP_PKEY *key, const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return 0;
    FILE *file = fdopen(fd, "w");
    if (file == NULL) {
        close(fd);
        return 0;
    }
    int ok = PEM_write_PrivateKey(file, key, NULL, NULL, 0, NULL, NULL);
    return fclose(file) == 0 && ok;
}

static int wps_write_cert(X509 *cert, const char *path) {
    FILE *file = fopen(path, "w");
    if (file == NULL) return 0;
    int ok = PEM_write_X509(file, cert);
    return fclose(file) == 0 && ok;
}

int wps_tls_make_self_signed(const char *common_name, const char *subject_alt_names, int days, int use_rsa,
                             const char *cert_path, const char *key_path) {
    int ok = 0;
    EVP_PKEY *key = use_rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    X509 *cert = X509_new();
    BIGNUM *serial = BN_new();
    if (key == NULL || cert == NULL || serial == NULL) goto done;
    if (!X509_set_version(cert, 2) || !BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)) == NULL)
        goto done;
    /* Backdated five minutes to tolerate small clock differences between hosts. */
    if (X509_gmtime_adj(X509_getm_notBefore(cert), -300) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(cert), (long)days * 86400L) == NULL || !X509_set_pubkey(cert, key))
        goto done;
    X509_NAME *name = X509_get_subject_name(cert);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)common_name, -1, -1, 0) ||
        !X509_set_issuer_name(cert, name))
        goto done;
    if (!wps_add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") ||
        !wps_add_ext(cert, NID_key_usage, use_rsa ? "critical,digitalSignature,keyEncipherment"
                                                   : "critical,digitalSignature") ||
        !wps_add_ext(cert, NID_ext_key_usage, "serverAuth") ||
        !wps_add_ext(cert, NID_subject_key_identifier, "hash"))
        goto done;
    if (subject_alt_names != NULL && subject_alt_names[0] != 0 &&
        !wps_add_ext(cert, NID_subject_alt_name, subject_alt_names))
        goto done;
    if (X509_sign(cert, key, EVP_sha256()) <= 0) goto done;
    ok = wps_write_key(key, key_path) && wps_write_cert(cert, cert_path);
done:
    BN_free(serial);
    X509_free(cert);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

int wps_tls_certificate_days_left(const char *path, int *days_out) {
    FILE *file = fopen(path, "r");
    if (file == NULL) return -1;
    X509 *certificate = PEM_read_X509(file, NULL, NULL, NULL);
    fclose(file);
    if (certificate == NULL) return -1;
    int days = 0, seconds = 0;
    int ok = ASN1_TIME_diff(&days, &seconds, NULL, X509_get0_notAfter(certificate));
    X509_free(certificate);
    if (!ok) return -1;
    /* Same sign for both parts: less than a day past expiry still counts as expired. */
    *days_out = (days == 0 && seconds < 0) ? -1 : days;
    return 0;
}
