/* The architecture JSON of pipeline/net.h: strict parsing into net_layer_spec (known kinds,
 * known keys per kind, integer ranges, errors naming the layer) and a canonical writer whose
 * output parses back to the same specs. Shape checks are net_build's job, not this file's. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "formats/jsoncheck.h"
#include "formats/model.h"
#include "pipeline/err.h"

/* An architecture nests 4 deep (object, layers, layer, inputs); deeper is not one. */
#define ARCH_MAX_DEPTH 8

/* Keys each kind accepts besides "kind", "name" and "inputs". */
static const char *const arch_keys[NET_KIND_COUNT][8] = {
    [NET_INPUT] = {"channels", "height", "width"},
    [NET_CONV2D] = {"out_channels", "kernel_size", "stride", "padding", "groups", "bias",
                    "in_channels", "dilation"},
    [NET_BATCHNORM] = {"eps", "momentum", "num_features"},
    [NET_MAXPOOL] = {"kernel_size", "stride", "padding", "ceil_mode", "dilation"},
    [NET_AVGPOOL] = {"kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"},
    [NET_LINEAR] = {"out_features", "bias", "in_features"},
    [NET_DROPOUT] = {"p"},
    [NET_SOFTMAX] = {"dim"},
};

struct arch_ctx {
    const char *what; /* the source, for errors */
    int index;        /* layer index */
    const char *name; /* layer name or "" */
};

#define ARCH_ERR(c, fmt, ...)                                                                  \
    err_set("cannot parse architecture '%s': layer %d '%s': " fmt, (c)->what, (c)->index,      \
            (c)->name, __VA_ARGS__)

static int arch_int(const struct arch_ctx *c, const cJSON *v, const char *key, int lo, int hi,
                    int *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return ARCH_ERR(c, "'%s' must be an integer", key);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return ARCH_ERR(c, "'%s' = %g is outside [%d, %d]", key, v->valuedouble, lo, hi);
    *out = (int)v->valuedouble;
    return 0;
}

/* An integer or an [h, w] pair. */
static int arch_pair(const struct arch_ctx *c, const cJSON *v, const char *key, int lo,
                     int out[2])
{
    if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) != 2) return ARCH_ERR(c, "'%s' must be [h, w]", key);
        return arch_int(c, cJSON_GetArrayItem(v, 0), key, lo, 1 << 16, &out[0]) ||
                       arch_int(c, cJSON_GetArrayItem(v, 1), key, lo, 1 << 16, &out[1])
                   ? -1
                   : 0;
    }
    if (arch_int(c, v, key, lo, 1 << 16, &out[0])) return -1;
    out[1] = out[0];
    return 0;
}

static int arch_bool(const struct arch_ctx *c, const cJSON *v, const char *key, int *out)
{
    if (!cJSON_IsBool(v)) return ARCH_ERR(c, "'%s' must be true or false", key);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int arch_float(const struct arch_ctx *c, const cJSON *v, const char *key, double lo,
                      double hi, float *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return ARCH_ERR(c, "'%s' must be a number in [%g, %g]", key, lo, hi);
    *out = (float)v->valuedouble;
    return 0;
}

static int arch_known_key(enum net_kind kind, const char *key)
{
    if (!strcmp(key, "kind") || !strcmp(key, "name") || !strcmp(key, "inputs")) return 1;
    for (int i = 0; i < 8 && arch_keys[kind][i]; i++)
        if (!strcmp(key, arch_keys[kind][i])) return 1;
    return 0;
}

/* One key of one layer. */
static int arch_key(const struct arch_ctx *c, struct net_layer_spec *s, const cJSON *v)
{
    const char *k = v->string;
    int one[2];
    if (!strcmp(k, "channels")) return arch_int(c, v, k, 1, 1 << 16, &s->channels);
    if (!strcmp(k, "height")) return arch_int(c, v, k, 1, 1 << 16, &s->height);
    if (!strcmp(k, "width")) return arch_int(c, v, k, 1, 1 << 16, &s->width);
    if (!strcmp(k, "out_channels") || !strcmp(k, "out_features"))
        return arch_int(c, v, k, 1, 1 << 20, &s->out_channels);
    if (!strcmp(k, "in_channels") || !strcmp(k, "in_features") || !strcmp(k, "num_features"))
        return arch_int(c, v, k, 1, 1 << 30, &s->in_channels);
    if (!strcmp(k, "kernel_size")) return arch_pair(c, v, k, 1, s->kernel);
    if (!strcmp(k, "stride")) return arch_pair(c, v, k, 1, s->stride);
    if (!strcmp(k, "padding")) return arch_pair(c, v, k, 0, s->padding);
    if (!strcmp(k, "groups")) return arch_int(c, v, k, 1, 1 << 20, &s->groups);
    if (!strcmp(k, "bias")) return arch_bool(c, v, k, &s->bias);
    if (!strcmp(k, "ceil_mode")) return arch_bool(c, v, k, &s->ceil_mode);
    if (!strcmp(k, "count_include_pad")) return arch_bool(c, v, k, &s->count_include_pad);
    if (!strcmp(k, "eps")) return arch_float(c, v, k, 1e-30, 1.0, &s->eps);
    if (!strcmp(k, "momentum")) return arch_float(c, v, k, 0.0, 1.0, &s->momentum);
    if (!strcmp(k, "p")) return arch_float(c, v, k, 0.0, 1.0, &s->p);
    if (!strcmp(k, "dilation")) {
        if (arch_pair(c, v, k, 1, one)) return -1;
        if (one[0] != 1 || one[1] != 1) return ARCH_ERR(c, "dilation %d is not supported", one[0]);
        return 0;
    }
    if (!strcmp(k, "dim")) {
        if (arch_int(c, v, k, -4, 3, &one[0])) return -1;
        if (one[0] != 1) return ARCH_ERR(c, "softmax over dim %d is not supported (only 1)",
                                         one[0]);
        return 0;
    }
    return ARCH_ERR(c, "internal: unhandled key '%s'", k);
}

static int arch_inputs(const struct arch_ctx *c, struct net_layer_spec *s, const cJSON *v)
{
    if (!cJSON_IsArray(v)) return ARCH_ERR(c, "%s", "'inputs' must be an array of layer names");
    int n = cJSON_GetArraySize(v);
    if (n < 1 || n > NET_MAX_INPUTS)
        return ARCH_ERR(c, "'inputs' has %d names (1..%d)", n, NET_MAX_INPUTS);
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsString(e) || strlen(e->valuestring) >= NET_NAME_MAX)
            return ARCH_ERR(c, "input %d must be a layer name under %d bytes", i, NET_NAME_MAX);
        strcpy(s->inputs[i], e->valuestring);
    }
    s->n_inputs = n;
    return 0;
}

static int arch_layer(const struct arch_ctx *c0, const cJSON *obj, struct net_layer_spec *s)
{
    struct arch_ctx c = *c0;
    if (!cJSON_IsObject(obj)) return ARCH_ERR(&c, "%s", "not a JSON object");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
    if (!cJSON_IsString(name)) return ARCH_ERR(&c, "%s", "missing string 'name'");
    c.name = name->valuestring;
    if (strlen(name->valuestring) >= NET_NAME_MAX)
        return ARCH_ERR(&c, "name is %d bytes or longer", NET_NAME_MAX);
    if (!cJSON_IsString(kind)) return ARCH_ERR(&c, "%s", "missing string 'kind'");
    int k = net_kind_from_name(kind->valuestring);
    if (k < 0) return ARCH_ERR(&c, "unknown layer type '%s'", kind->valuestring);
    net_layer_spec_init(s, (enum net_kind)k, name->valuestring);
    for (const cJSON *v = obj->child; v; v = v->next) {
        if (!arch_known_key((enum net_kind)k, v->string))
            return ARCH_ERR(&c, "unknown key '%s' for a %s layer", v->string, kind->valuestring);
        if (!strcmp(v->string, "kind") || !strcmp(v->string, "name")) continue;
        if (!strcmp(v->string, "inputs") ? arch_inputs(&c, s, v) : arch_key(&c, s, v))
            return -1;
    }
    static const char *const required[][2] = {
        [NET_INPUT] = {"channels", "height"}, [NET_CONV2D] = {"out_channels", "kernel_size"},
        [NET_MAXPOOL] = {"kernel_size"},      [NET_AVGPOOL] = {"kernel_size"},
        [NET_LINEAR] = {"out_features"}};
    for (int i = 0; i < 2 && (size_t)k < sizeof required / sizeof *required; i++)
        if (required[k][i] && !cJSON_GetObjectItemCaseSensitive(obj, required[k][i]))
            return ARCH_ERR(&c, "missing '%s'", required[k][i]);
    if (k == NET_INPUT && !cJSON_GetObjectItemCaseSensitive(obj, "width"))
        return ARCH_ERR(&c, "missing '%s'", "width");
    return 0;
}

static int arch_header(const cJSON *root, const char *what)
{
    if (!cJSON_IsObject(root))
        return err_set("cannot parse architecture '%s': not a JSON object", what);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (fmt && (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "salbench-net")))
        return err_set("cannot parse architecture '%s': format is not \"salbench-net\"", what);
    if (ver && (!cJSON_IsNumber(ver) || ver->valuedouble != 1))
        return err_set("cannot parse architecture '%s': unsupported version (only 1)", what);
    for (const cJSON *v = root->child; v; v = v->next)
        if (strcmp(v->string, "format") && strcmp(v->string, "version") &&
            strcmp(v->string, "layers"))
            return err_set("cannot parse architecture '%s': unknown key '%s'", what, v->string);
    return 0;
}

int model_arch_parse(const char *json, const char *what, struct net_layer_spec **specs, int *n)
{
    *specs = NULL;
    *n = 0;
    const char *end = NULL, *why = NULL;
    size_t len = strlen(json), bad = jsoncheck_text(json, len, ARCH_MAX_DEPTH, &why);
    if (bad < len)
        return err_set("cannot parse architecture '%s': malformed JSON at byte %zu: %s", what,
                       bad, why);
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        return err_set("cannot parse architecture '%s': malformed JSON near byte %zu", what, at);
    }
    const cJSON *dup = jsoncheck_duplicate_key(root);
    int rc = dup ? err_set("cannot parse architecture '%s': an object has the key '%s' twice",
                           what, dup->string)
                 : arch_header(root, what);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    int count = cJSON_GetArraySize(layers);
    if (!rc && (!cJSON_IsArray(layers) || count < 1 || count > MODEL_MAX_LAYERS))
        rc = err_set("cannot parse architecture '%s': 'layers' must be an array of 1..%d "
                     "layers", what, MODEL_MAX_LAYERS);
    struct net_layer_spec *s = rc ? NULL : calloc((size_t)count, sizeof *s);
    if (!rc && !s) rc = err_set("cannot parse architecture '%s': out of memory", what);
    int i = 0;
    for (const cJSON *l = rc ? NULL : layers->child; l && !rc; l = l->next, i++) {
        struct arch_ctx c = {what, i, ""};
        rc = arch_layer(&c, l, &s[i]);
    }
    cJSON_Delete(root);
    if (rc) {
        free(s);
        return -1;
    }
    *specs = s;
    *n = count;
    return 0;
}

int model_arch_read(const char *path, struct net_layer_spec **specs, int *n)
{
    *specs = NULL;
    *n = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set("cannot open '%s': %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            char *nb = cap > (16u << 20) ? NULL : realloc(buf, cap);
            if (!nb) {
                rc = err_set("cannot read '%s': larger than 16 MiB or out of memory", path);
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, 4096, fp);
        len += got;
        if (got < 4096) {
            if (ferror(fp)) rc = err_set("cannot read '%s': %s", path, strerror(errno));
            break;
        }
    }
    fclose(fp);
    if (!rc) {
        buf[len] = '\0';
        rc = model_arch_parse(buf, path, specs, n);
    }
    free(buf);
    return rc;
}

/* ---- canonical writer ------------------------------------------------------------------ */

/* Shortest decimal that reads back as the same float. */
static void arch_fmt_float(char *out, size_t cap, float v)
{
    for (int p = 1; p <= 9; p++) {
        snprintf(out, cap, "%.*g", p, (double)v);
        if (strtof(out, NULL) == v) return;
    }
}

static int arch_add_pair(cJSON *o, const char *key, const int v[2])
{
    if (v[0] == v[1]) return cJSON_AddNumberToObject(o, key, v[0]) ? 0 : -1;
    cJSON *a = cJSON_AddArrayToObject(o, key);
    if (!a) return -1;
    for (int i = 0; i < 2; i++)
        if (!cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]))) return -1;
    return 0;
}

static int arch_add_float(cJSON *o, const char *key, float v)
{
    char buf[32];
    arch_fmt_float(buf, sizeof buf, v);
    return cJSON_AddRawToObject(o, key, buf) ? 0 : -1;
}

/* The kind-specific keys of one layer. */
static int arch_emit_keys(cJSON *o, const struct net_layer_spec *s)
{
    int rc = 0;
    switch (s->kind) {
    case NET_INPUT:
        rc |= !cJSON_AddNumberToObject(o, "channels", s->channels);
        rc |= !cJSON_AddNumberToObject(o, "height", s->height);
        rc |= !cJSON_AddNumberToObject(o, "width", s->width);
        break;
    case NET_CONV2D:
        rc |= !cJSON_AddNumberToObject(o, "out_channels", s->out_channels);
        rc |= arch_add_pair(o, "kernel_size", s->kernel) | arch_add_pair(o, "stride", s->stride);
        rc |= arch_add_pair(o, "padding", s->padding);
        rc |= !cJSON_AddNumberToObject(o, "groups", s->groups);
        rc |= !cJSON_AddBoolToObject(o, "bias", s->bias);
        if (s->in_channels) rc |= !cJSON_AddNumberToObject(o, "in_channels", s->in_channels);
        break;
    case NET_BATCHNORM:
        rc |= arch_add_float(o, "eps", s->eps) | arch_add_float(o, "momentum", s->momentum);
        if (s->in_channels) rc |= !cJSON_AddNumberToObject(o, "num_features", s->in_channels);
        break;
    case NET_MAXPOOL:
    case NET_AVGPOOL:
        rc |= arch_add_pair(o, "kernel_size", s->kernel);
        if (s->stride[0] || s->stride[1]) rc |= arch_add_pair(o, "stride", s->stride);
        rc |= arch_add_pair(o, "padding", s->padding);
        rc |= !cJSON_AddBoolToObject(o, "ceil_mode", s->ceil_mode);
        if (s->kind == NET_AVGPOOL)
            rc |= !cJSON_AddBoolToObject(o, "count_include_pad", s->count_include_pad);
        break;
    case NET_LINEAR:
        rc |= !cJSON_AddNumberToObject(o, "out_features", s->out_channels);
        rc |= !cJSON_AddBoolToObject(o, "bias", s->bias);
        if (s->in_channels) rc |= !cJSON_AddNumberToObject(o, "in_features", s->in_channels);
        break;
    case NET_DROPOUT:
        rc |= arch_add_float(o, "p", s->p);
        break;
    default:
        break;
    }
    return rc ? -1 : 0;
}

static char *arch_layer_json(const struct net_layer_spec *s)
{
    cJSON *o = cJSON_CreateObject();
    int rc = !o || !cJSON_AddStringToObject(o, "kind", net_kind_name(s->kind)) ||
             !cJSON_AddStringToObject(o, "name", s->name);
    if (!rc && s->n_inputs > 0) {
        cJSON *a = cJSON_AddArrayToObject(o, "inputs");
        rc = !a;
        for (int i = 0; !rc && i < s->n_inputs; i++)
            rc = !cJSON_AddItemToArray(a, cJSON_CreateString(s->inputs[i]));
    }
    rc = rc || arch_emit_keys(o, s);
    char *text = rc ? NULL : cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

char *model_arch_format(const struct net_layer_spec *specs, int n)
{
    static const char head[] = "{\"format\": \"salbench-net\", \"version\": 1, \"layers\": [\n";
    size_t cap = sizeof head + 16, len = 0;
    char *out = malloc(cap);
    if (!out) goto oom;
    len = (size_t)snprintf(out, cap, "%s", head);
    for (int i = 0; i < n; i++) {
        char *l = arch_layer_json(&specs[i]);
        if (!l) goto oom;
        size_t need = len + strlen(l) + 8;
        if (need > cap) {
            char *nb = realloc(out, need * 2);
            if (!nb) {
                cJSON_free(l);
                goto oom;
            }
            out = nb;
            cap = need * 2;
        }
        len += (size_t)snprintf(out + len, cap - len, "  %s%s\n", l, i + 1 < n ? "," : "");
        cJSON_free(l);
    }
    if (len + 4 > cap) {
        char *nb = realloc(out, len + 4);
        if (!nb) goto oom;
        out = nb;
    }
    memcpy(out + len, "]}\n", 4);
    return out;
oom:
    free(out);
    err_set("cannot format architecture: out of memory");
    return NULL;
}
