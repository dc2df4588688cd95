/* JSON for the MLflow store: re-emission of JSON text exactly as Python's json.dump(obj,
 * indent=2) prints it (Armory's metrics/<name>.txt and metadata.txt), and flattening of a
 * provenance params object into run params. A validating recursive-descent pass, not a DOM:
 * integers keep their digits, floats are re-spelled as Python's repr. */
#include "formats/mlflowstore.h"
#include "formats/mlflowstore_impl.h"

#include "pipeline/err.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MLFS_JSON_DEPTH 256

struct mlfs_json {
    const char *s, *p;
    struct mlfs_buf out;
    int depth;
};

static int mlfs_json_fail(struct mlfs_json *j, const char *why)
{
    return err_set("cannot parse JSON at offset %ld: %s", (long)(j->p - j->s), why);
}

static void mlfs_json_ws(struct mlfs_json *j)
{
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r') j->p++;
}

static int mlfs_json_indent(struct mlfs_json *j, int depth)
{
    if (mlfs_buf_puts(&j->out, "\n")) return -1;
    for (int i = 0; i < depth; i++)
        if (mlfs_buf_puts(&j->out, "  ")) return -1;
    return 0;
}

static int mlfs_json_hex4(const char *p, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

/* One code point in Python's ensure_ascii spelling. */
static int mlfs_json_put_cp(struct mlfs_buf *b, uint32_t cp)
{
    switch (cp) {
    case '"': return mlfs_buf_puts(b, "\\\"");
    case '\\': return mlfs_buf_puts(b, "\\\\");
    case '\n': return mlfs_buf_puts(b, "\\n");
    case '\r': return mlfs_buf_puts(b, "\\r");
    case '\t': return mlfs_buf_puts(b, "\\t");
    case '\b': return mlfs_buf_puts(b, "\\b");
    case '\f': return mlfs_buf_puts(b, "\\f");
    default: break;
    }
    if (cp >= 0x20 && cp < 0x7F) {
        char c = (char)cp;
        return mlfs_buf_put(b, &c, 1);
    }
    if (cp <= 0xFFFF) return mlfs_buf_printf(b, "\\u%04x", (unsigned)cp);
    cp -= 0x10000;
    return mlfs_buf_printf(b, "\\u%04x\\u%04x", (unsigned)(0xD800 + (cp >> 10)),
                           (unsigned)(0xDC00 + (cp & 0x3FF)));
}

static int mlfs_json_string(struct mlfs_json *j)
{
    j->p++; /* opening quote */
    if (mlfs_buf_puts(&j->out, "\"")) return -1;
    for (;;) {
        unsigned char c = (unsigned char)*j->p;
        uint32_t cp;
        if (c == '"') break;
        if (c < 0x20) return mlfs_json_fail(j, c ? "control character in string" : "unterminated string");
        if (c == '\\') {
            char e = j->p[1];
            const char *map = strchr("\"\\/bfnrt", e);
            if (e && map) {
                static const uint32_t vals[] = {'"', '\\', '/', '\b', '\f', '\n', '\r', '\t'};
                cp = vals[map - "\"\\/bfnrt"];
                j->p += 2;
            } else if (e == 'u' && mlfs_json_hex4(j->p + 2, &cp) == 0) {
                j->p += 6;
                uint32_t lo;
                if (cp >= 0xD800 && cp <= 0xDBFF && j->p[0] == '\\' && j->p[1] == 'u' &&
                    mlfs_json_hex4(j->p + 2, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    j->p += 6;
                }
            } else {
                return mlfs_json_fail(j, "bad escape in string");
            }
        } else {
            if (mlfs_utf8_count(j->p, mlfs_utf8_prefix(j->p, strnlen(j->p, 4), 1)) != 1)
                return mlfs_json_fail(j, "invalid UTF-8 in string");
            j->p += mlfs_utf8_decode((const unsigned char *)j->p, &cp);
        }
        if (mlfs_json_put_cp(&j->out, cp)) return -1;
    }
    j->p++;
    return mlfs_buf_puts(&j->out, "\"");
}

static int mlfs_json_number(struct mlfs_json *j)
{
    static const char *const words[] = {"NaN", "Infinity", "-Infinity"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if (strncmp(j->p, words[i], n) == 0) {
            j->p += n;
            return mlfs_buf_puts(&j->out, words[i]);
        }
    }
    const char *q = j->p;
    int is_float = 0;
    if (*q == '-') q++;
    if (*q == '0') q++;
    else if (*q >= '1' && *q <= '9') while (*q >= '0' && *q <= '9') q++;
    else return mlfs_json_fail(j, "unexpected character");
    if (*q == '.') {
        is_float = 1;
        if (!(*++q >= '0' && *q <= '9')) return mlfs_json_fail(j, "bad number");
        while (*q >= '0' && *q <= '9') q++;
    }
    if (*q == 'e' || *q == 'E') {
        is_float = 1;
        q++;
        if (*q == '+' || *q == '-') q++;
        if (!(*q >= '0' && *q <= '9')) return mlfs_json_fail(j, "bad number");
        while (*q >= '0' && *q <= '9') q++;
    }
    const char *start = j->p;
    j->p = q;
    if (!is_float) return mlfs_buf_put(&j->out, start, (size_t)(q - start));
    double v = strtod(start, NULL);
    if (isinf(v)) return mlfs_buf_puts(&j->out, v > 0 ? "Infinity" : "-Infinity");
    char f[MLFLOWSTORE_FLOAT_MAX];
    mlflowstore_format_float(f, v);
    return mlfs_buf_puts(&j->out, f);
}

static int mlfs_json_value(struct mlfs_json *j);

/* An object or array; close is '}' or ']'. */
static int mlfs_json_container(struct mlfs_json *j, char close)
{
    if (++j->depth > MLFS_JSON_DEPTH) return mlfs_json_fail(j, "nested too deeply");
    char open[2] = {*j->p, '\0'};
    j->p++;
    if (mlfs_buf_puts(&j->out, open)) return -1;
    mlfs_json_ws(j);
    if (*j->p == close) {
        j->p++;
        j->depth--;
        return mlfs_buf_put(&j->out, &close, 1);
    }
    for (int first = 1;; first = 0) {
        if (!first && mlfs_buf_puts(&j->out, ",")) return -1;
        if (mlfs_json_indent(j, j->depth)) return -1;
        mlfs_json_ws(j);
        if (close == '}') {
            if (*j->p != '"') return mlfs_json_fail(j, "expected a string key");
            if (mlfs_json_string(j)) return -1;
            mlfs_json_ws(j);
            if (*j->p++ != ':') return mlfs_json_fail(j, "expected ':'");
            if (mlfs_buf_puts(&j->out, ": ")) return -1;
        }
        if (mlfs_json_value(j)) return -1;
        mlfs_json_ws(j);
        if (*j->p == ',') { j->p++; continue; }
        if (*j->p != close) return mlfs_json_fail(j, close == '}' ? "expected ',' or '}'"
                                                                  : "expected ',' or ']'");
        j->p++;
        break;
    }
    j->depth--;
    if (mlfs_json_indent(j, j->depth)) return -1;
    return mlfs_buf_put(&j->out, &close, 1);
}

static int mlfs_json_value(struct mlfs_json *j)
{
    mlfs_json_ws(j);
    static const char *const lits[] = {"true", "false", "null"};
    switch (*j->p) {
    case '{': return mlfs_json_container(j, '}');
    case '[': return mlfs_json_container(j, ']');
    case '"': return mlfs_json_string(j);
    default: break;
    }
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(lits[i]);
        if (strncmp(j->p, lits[i], n) == 0) {
            j->p += n;
            return mlfs_buf_puts(&j->out, lits[i]);
        }
    }
    if (*j->p == '\0') return mlfs_json_fail(j, "unexpected end of text");
    return mlfs_json_number(j);
}

int mlflowstore_json_pretty(const char *json, char **out)
{
    *out = NULL;
    struct mlfs_json j = {.s = json, .p = json};
    if (mlfs_json_value(&j)) goto fail;
    mlfs_json_ws(&j);
    if (*j.p) {
        mlfs_json_fail(&j, "extra text after the value");
        goto fail;
    }
    if (!j.out.s && mlfs_buf_puts(&j.out, "")) goto fail;
    *out = j.out.s;
    return 0;
fail:
    mlfs_buf_release(&j.out);
    return -1;
}

/* ---- params ------------------------------------------------------------------------------- */

static int mlfs_params_item(struct mlflowstore_run_writer *w, const char *prefix,
                            const cJSON *item)
{
    char key[MLFLOWSTORE_KEY_MAX + 1];
    if (cJSON_IsObject(item)) {
        for (const cJSON *c = item->child; c; c = c->next) {
            size_t n = strlen(prefix) + strlen(c->string) + 2;
            char *sub = malloc(n);
            if (!sub) return err_set("cannot flatten params: out of memory");
            snprintf(sub, n, "%s%s%s", prefix, prefix[0] ? "." : "", c->string);
            int rc = mlfs_params_item(w, sub, c);
            free(sub);
            if (rc) return -1;
        }
        return 0;
    }
    mlflowstore_key_sanitise(key, sizeof key, prefix);
    if (cJSON_IsString(item)) return mlflowstore_run_param(w, key, item->valuestring);
    char *text = cJSON_PrintUnformatted(item);
    if (!text) return err_set("cannot print param '%s': out of memory", key);
    int rc = mlflowstore_run_param(w, key, text);
    free(text);
    return rc;
}

int mlflowstore_run_params_json(struct mlflowstore_run_writer *w, const char *prefix,
                                const char *json)
{
    cJSON *root = cJSON_Parse(json);
    if (!root) return err_set("cannot parse params of '%s': invalid JSON near '%.20s'", prefix,
                              cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
    int rc = cJSON_IsObject(root) ? mlfs_params_item(w, prefix, root)
                                  : err_set("cannot log params '%s': not a JSON object", prefix);
    cJSON_Delete(root);
    return rc;
}
