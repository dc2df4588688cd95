/* Text and file helpers of the MLflow store: UTF-8, YAML quoting, Python float repr, key rules,
 * file:// URIs, json.dump(indent=2) re-emission, and small checked file operations. No store
 * logic here (see mlflowstore.c and mlflowstore_read.c). */
#define _GNU_SOURCE /* nftw, syncfs */
#include "formats/mlflowstore.h"
#include "formats/mlflowstore_impl.h"
#include "formats/atomicfile.h"

#include "pipeline/err.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- buffer ------------------------------------------------------------------------------- */

int mlfs_buf_put(struct mlfs_buf *b, const void *data, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) return err_set("cannot allocate %zu bytes: out of memory", cap);
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->n, data, n);
    b->n += n;
    b->s[b->n] = '\0';
    return 0;
}

int mlfs_buf_puts(struct mlfs_buf *b, const char *s)
{
    return mlfs_buf_put(b, s, strlen(s));
}

int mlfs_buf_printf(struct mlfs_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return err_set("cannot format text: %s", strerror(errno));
    if ((size_t)n < sizeof small) return mlfs_buf_put(b, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big) return err_set("cannot allocate %d bytes: out of memory", n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = mlfs_buf_put(b, big, (size_t)n);
    free(big);
    return rc;
}

void mlfs_buf_release(struct mlfs_buf *b)
{
    free(b->s);
    b->s = NULL;
    b->n = b->cap = 0;
}

/* ---- UTF-8 -------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when invalid. */
static int mlfs_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || (size_t)len > n) return 0;
    for (int i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
    if (c == 0xED && s[1] > 0x9F) return 0; /* surrogate */
    if (c == 0xF0 && s[1] < 0x90) return 0; /* overlong */
    if (c == 0xF4 && s[1] > 0x8F) return 0; /* > U+10FFFF */
    return len;
}

long mlfs_utf8_count(const char *s, size_t n)
{
    long count = 0;
    for (size_t i = 0; i < n; count++) {
        int len = mlfs_utf8_len((const unsigned char *)s + i, n - i);
        if (!len) return -1;
        i += (size_t)len;
    }
    return count;
}

size_t mlfs_utf8_prefix(const char *s, size_t n, long max_cp)
{
    size_t i = 0;
    for (long k = 0; k < max_cp && i < n; k++) {
        int len = mlfs_utf8_len((const unsigned char *)s + i, n - i);
        i += len ? (size_t)len : 1;
    }
    return i;
}

int mlfs_utf8_decode(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) { *cp = s[0]; return 1; }
    if (s[0] < 0xE0) { *cp = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F); return 2; }
    if (s[0] < 0xF0) {
        *cp = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        return 3;
    }
    *cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
          (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
    return 4;
}

int mlfs_buf_yaml_string(struct mlfs_buf *b, const char *s)
{
    if (mlfs_buf_puts(b, "\"")) return -1;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        int len = mlfs_utf8_decode(p, &cp);
        p += len;
        char esc[16];
        const char *out = esc;
        if (cp == '"') out = "\\\"";
        else if (cp == '\\') out = "\\\\";
        else if (cp == '\n') out = "\\n";
        else if (cp == '\t') out = "\\t";
        else if (cp == '\r') out = "\\r";
        else if (cp >= 0x20 && cp < 0x7F) { esc[0] = (char)cp; esc[1] = '\0'; }
        else if (cp <= 0xFFFF) snprintf(esc, sizeof esc, "\\u%04X", (unsigned)cp);
        else snprintf(esc, sizeof esc, "\\U%08X", (unsigned)cp);
        if (mlfs_buf_puts(b, out)) return -1;
    }
    return mlfs_buf_puts(b, "\"");
}

/* ---- floats, keys, times ------------------------------------------------------------------ */

int64_t mlflowstore_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *mlflowstore_status_name(int status)
{
    static const char *const names[] = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"};
    return status >= 1 && status <= 5 ? names[status - 1] : "UNKNOWN";
}

/* Python repr: shortest round-trip digits; fixed notation when -4 <= exponent < 16. */
void mlflowstore_format_float(char out[MLFLOWSTORE_FLOAT_MAX], double v)
{
    if (isnan(v)) { strcpy(out, "nan"); return; }
    if (isinf(v)) { strcpy(out, v > 0 ? "inf" : "-inf"); return; }
    char tmp[40];
    for (int p = 0; p < 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p, v);
        if (strtod(tmp, NULL) == v) break;
    }
    char digits[24];
    int nd = 0, neg = tmp[0] == '-';
    const char *q = tmp + neg;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9') digits[nd++] = *q;
    int exp10 = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = '\0';
    char *o = out;
    if (neg) *o++ = '-';
    if (exp10 >= -4 && exp10 < 16) {
        int decpt = exp10 + 1;
        if (decpt <= 0) {
            o += sprintf(o, "0.");
            for (int i = 0; i < -decpt; i++) *o++ = '0';
            sprintf(o, "%s", digits);
        } else if (decpt >= nd) {
            o += sprintf(o, "%s", digits);
            for (int i = nd; i < decpt; i++) *o++ = '0';
            sprintf(o, ".0");
        } else {
            sprintf(o, "%.*s.%s", decpt, digits, digits + decpt);
        }
    } else {
        o += sprintf(o, "%c", digits[0]);
        if (nd > 1) o += sprintf(o, ".%s", digits + 1);
        sprintf(o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    }
}

static int mlfs_key_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-' || c == ' ' || c == '/';
}

int mlfs_relpath_ok(const char *rel)
{
    if (!rel[0] || rel[0] == '/') return 0;
    const char *seg = rel;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0) return 0;
        if (len == 1 && seg[0] == '.') return 0;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') return 0;
        if (!end) return 1;
        seg = end + 1;
    }
}

int mlflowstore_key_valid(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > MLFLOWSTORE_KEY_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!mlfs_key_char((unsigned char)key[i])) return 0;
    return mlfs_relpath_ok(key);
}

void mlflowstore_key_sanitise(char *out, size_t cap, const char *in)
{
    size_t lim = cap - 1 < MLFLOWSTORE_KEY_MAX ? cap - 1 : MLFLOWSTORE_KEY_MAX, o = 0;
    const char *seg = in;
    while (*seg && o < lim) {
        while (*seg == '/') seg++;
        if (!*seg) break;
        const char *end = seg;
        while (*end && *end != '/') end++;
        size_t len = (size_t)(end - seg);
        if (o > 0 && o < lim) out[o++] = '/';
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.')) {
            for (size_t i = 0; i < len && o < lim; i++) out[o++] = '_';
        } else {
            for (size_t i = 0; i < len && o < lim; i++)
                out[o++] = mlfs_key_char((unsigned char)seg[i]) ? seg[i] : '_';
        }
        seg = end;
    }
    while (o > 0 && out[o - 1] == '/') o--;
    /* The cut at lim can leave "." or ".." as the last segment (from a longer segment such as
     * "..x"); those are path components, not names. */
    size_t last = o;
    while (last > 0 && out[last - 1] != '/') last--;
    if ((o - last == 1 && out[last] == '.') ||
        (o - last == 2 && out[last] == '.' && out[last + 1] == '.'))
        memset(out + last, '_', o - last);
    if (o == 0) out[o++] = '_';
    out[o] = '\0';
}

/* ---- URIs --------------------------------------------------------------------------------- */

char *mlflowstore_path_uri(const char *abs_path)
{
    struct mlfs_buf b = {0};
    if (mlfs_buf_puts(&b, "file://")) return NULL;
    for (const unsigned char *p = (const unsigned char *)abs_path; *p; p++) {
        int safe = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || strchr("_.~/-", *p);
        if (safe ? mlfs_buf_put(&b, p, 1) : mlfs_buf_printf(&b, "%%%02X", *p)) {
            mlfs_buf_release(&b);
            return NULL;
        }
    }
    return b.s;
}

static int mlfs_hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

char *mlflowstore_uri_path(const char *uri)
{
    const char *p;
    if (strncmp(uri, "file://", 7) == 0) {
        p = uri + 7;
        if (*p != '/') { /* file://host/path: only localhost */
            if (strncmp(p, "localhost/", 10) != 0) {
                err_set("cannot resolve URI '%s': not a local file URI", uri);
                return NULL;
            }
            p += 9;
        }
    } else if (strncmp(uri, "file:/", 6) == 0) {
        p = uri + 5;
    } else {
        err_set("cannot resolve URI '%s': not a file: URI", uri);
        return NULL;
    }
    char *out = malloc(strlen(p) + 1), *o = out;
    if (!out) { err_set("cannot allocate URI path: out of memory"); return NULL; }
    for (; *p; p++) {
        int h, l;
        if (*p == '%' && (h = mlfs_hexval(p[1])) >= 0 && (l = mlfs_hexval(p[2])) >= 0) {
            *o++ = (char)(h * 16 + l);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

/* ---- files -------------------------------------------------------------------------------- */

char *mlfs_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 2);
    if (!s) { err_set("cannot allocate a path: out of memory"); return NULL; }
    memcpy(s, a, na);
    size_t o = na;
    if (nb) {
        if (o == 0 || s[o - 1] != '/') s[o++] = '/';
        memcpy(s + o, b, nb);
        o += nb;
    }
    s[o] = '\0';
    return s;
}

int mlfs_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int mlfs_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int mlfs_mkdirs(const char *path)
{
    char *p = strdup(path);
    if (!p) return err_set("cannot create '%s': out of memory", path);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) && errno != EEXIST) {
            int rc = err_set("cannot create directory '%s': %s", p, strerror(errno));
            free(p);
            return rc;
        }
        if (!mlfs_is_dir(p)) {
            int rc = err_set("cannot create directory '%s': a file is in the way", p);
            free(p);
            return rc;
        }
        *s = c;
        if (!c) break;
    }
    free(p);
    return 0;
}

int mlfs_mkparents(const char *dir, const char *rel)
{
    const char *slash = strrchr(rel, '/');
    if (!slash) return 0;
    char *sub = strndup(rel, (size_t)(slash - rel));
    char *full = sub ? mlfs_join(dir, sub) : NULL;
    int rc = full ? mlfs_mkdirs(full) : err_set("cannot create '%s': out of memory", rel);
    free(sub);
    free(full);
    return rc;
}

static int mlfs_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    if (rc && errno != ENOENT) {
        err_set("cannot remove '%s': %s", path, strerror(errno));
        return 1;
    }
    return 0;
}

int mlfs_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st)) return errno == ENOENT ? 0 : err_set("cannot remove '%s': %s", path,
                                                                 strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path)) return err_set("cannot remove '%s': %s", path, strerror(errno));
        return 0;
    }
    return nftw(path, mlfs_rm_one, 16, FTW_DEPTH | FTW_PHYS) ? -1 : 0;
}

int mlfs_read_file(const char *path, char **data, size_t *n)
{
    *data = NULL;
    *n = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set("cannot open '%s': %s", path, strerror(errno));
    struct mlfs_buf b = {0};
    char chunk[65536];
    size_t got;
    int rc = 0;
    while (!rc && (got = fread(chunk, 1, sizeof chunk, fp)) > 0) rc = mlfs_buf_put(&b, chunk, got);
    if (!rc && ferror(fp)) rc = err_set("cannot read '%s': %s", path, strerror(errno));
    fclose(fp);
    if (!rc && !b.s) rc = mlfs_buf_put(&b, "", 0);
    if (rc) { mlfs_buf_release(&b); return -1; }
    *data = b.s;
    *n = b.n;
    return 0;
}

int mlfs_syncfs(const char *path)
{
    return atomicfile_sync_tree(path);
}

int mlfs_write_file(const char *path, const void *data, size_t n, int flags)
{
    int mode = flags & MLFS_APPEND ? O_APPEND : O_TRUNC;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | mode, 0666);
    if (fd < 0) return err_set("cannot create '%s': %s", path, strerror(errno));
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int saved = errno;
            close(fd);
            return err_set("cannot write '%s': %s", path, strerror(saved));
        }
        p += w;
        n -= (size_t)w;
    }
    if ((flags & MLFS_SYNC) && fsync(fd) && errno != EINVAL) {
        int saved = errno;
        close(fd);
        return err_set("cannot write '%s': fsync: %s", path, strerror(saved));
    }
    if (close(fd)) return err_set("cannot write '%s': close: %s", path, strerror(errno));
    return 0;
}
