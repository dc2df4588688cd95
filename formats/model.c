/* The model file: load with full validation, write from a built net (see model.h for the
 * layout). Weights go straight from HDF5 datasets into the net's parameter arena; nothing
 * outside this module and h5table knows the file is HDF5. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "formats/model.h"
#include "pipeline/err.h"

#define MODEL_ERR(f, fmt, ...)                                                                 \
    err_set("cannot load model '%s': " fmt, h5table_path(f), __VA_ARGS__)

void model_init(struct model *m)
{
    memset(m, 0, sizeof *m);
}

void model_release(struct model *m)
{
    if (!m) return;
    net_free(m->net);
    free(m->specs);
    free(m->class_names);
    model_init(m);
}

const char *model_activation_name(enum model_activation a)
{
    return a == MODEL_SIGMOID ? "sigmoid" : "softmax";
}

int model_activation_from_name(const char *name)
{
    if (!strcmp(name, "softmax")) return MODEL_SOFTMAX;
    if (!strcmp(name, "sigmoid")) return MODEL_SIGMOID;
    return -1;
}

/* The head a trailing softmax/sigmoid layer implies, or -1 when the net ends on logits. */
static int model_head(const struct net *net)
{
    enum net_kind k = net_layer_spec_at(net, net_output_layer(net))->kind;
    return k == NET_SOFTMAX ? MODEL_SOFTMAX : k == NET_SIGMOID ? MODEL_SIGMOID : -1;
}

int model_build(struct model *m, const struct net_layer_spec *specs, int n, int max_batch,
                unsigned flags)
{
    model_release(m);
    if (n < 1 || specs[0].kind != NET_INPUT)
        return err_set("cannot build model: the first layer must be the input layer");
    if (specs[0].channels > MODEL_MAX_CHANNELS)
        return err_set("cannot build model: %d input channels (at most %d)", specs[0].channels,
                       MODEL_MAX_CHANNELS);
    m->specs = malloc((size_t)n * sizeof *specs);
    if (!m->specs) return err_set("cannot build model: out of memory");
    memcpy(m->specs, specs, (size_t)n * sizeof *specs);
    m->n_layers = n;
    if (net_build(&m->net, specs, n, max_batch, flags)) goto fail;
    m->channels = specs[0].channels, m->height = specs[0].height, m->width = specs[0].width;
    int L = net_logits_layer(m->net), c, h, w;
    net_layer_shape(m->net, L, &c, &h, &w);
    if (h != 1 || w != 1) {
        err_set("cannot build model: logits layer '%s' is [%d, %d, %d]; a classifier needs "
                "[K, 1, 1] (add global_avgpool/flatten/linear)",
                net_layer_spec_at(m->net, L)->name, c, h, w);
        goto fail;
    }
    m->n_classes = c;
    m->class_names = calloc((size_t)c, sizeof *m->class_names);
    if (!m->class_names) {
        err_set("cannot build model: out of memory");
        goto fail;
    }
    for (int k = 0; k < c; k++)
        snprintf(m->class_names[k], MODEL_CLASS_NAME_MAX, "%d", k);
    for (int i = 0; i < m->channels; i++)
        m->mean[i] = 0.0, m->std[i] = 1.0;
    int head = model_head(m->net);
    m->activation = head < 0 ? MODEL_SOFTMAX : (enum model_activation)head;
    return 0;
fail:
    model_release(m);
    return -1;
}

/* ---- reading -------------------------------------------------------------------------- */

static int read_shape_attr(struct h5table_file *f, const char *name, int want)
{
    int64_t v;
    if (h5table_attr_get_i64(f, "/", name, &v)) return -1;
    if (v != want)
        return MODEL_ERR(f, "attribute %s = %lld but the architecture's input layer says %d",
                         name, (long long)v, want);
    return 0;
}

static int read_norm(struct h5table_file *f, const char *name, int C, double *out, int is_std)
{
    double *v = NULL;
    size_t n = 0;
    if (h5table_attr_get_f64_array(f, "/", name, &v, &n)) return -1;
    int rc = 0;
    if (n != (size_t)C)
        rc = MODEL_ERR(f, "attribute %s has %zu values for %d input channels", name, n, C);
    for (size_t i = 0; !rc && i < n; i++) {
        if (!isfinite(v[i]) || (is_std && !(v[i] > 0)))
            rc = MODEL_ERR(f, "attribute %s[%zu] = %g is not %s", name, i, v[i],
                           is_std ? "a positive finite number" : "finite");
        out[i] = v[i];
    }
    free(v);
    return rc;
}

static int read_class_names(struct h5table_file *f, struct model *m)
{
    char *text = NULL;
    if (h5table_attr_get_str(f, "/", "class_names", &text)) return -1;
    cJSON *a = cJSON_Parse(text);
    int rc = 0;
    if (!cJSON_IsArray(a))
        rc = MODEL_ERR(f, "%s", "attribute class_names is not a JSON array of strings");
    else if (cJSON_GetArraySize(a) != m->n_classes)
        rc = MODEL_ERR(f, "class_names has %d names but the logits layer has %d outputs",
                       cJSON_GetArraySize(a), m->n_classes);
    int k = 0;
    for (const cJSON *e = rc ? NULL : a->child; e && !rc; e = e->next, k++) {
        if (!cJSON_IsString(e) || strlen(e->valuestring) >= MODEL_CLASS_NAME_MAX)
            rc = MODEL_ERR(f, "class name %d is not a string under %d bytes", k,
                           MODEL_CLASS_NAME_MAX);
        else
            strcpy(m->class_names[k], e->valuestring);
    }
    cJSON_Delete(a);
    free(text);
    return rc;
}

static int read_activation(struct h5table_file *f, struct model *m)
{
    char *text = NULL;
    if (h5table_attr_get_str(f, "/", "output_activation", &text)) return -1;
    int a = model_activation_from_name(text), head = model_head(m->net), rc = 0;
    if (a < 0)
        rc = MODEL_ERR(f, "output_activation '%s' is not softmax or sigmoid", text);
    else if (head >= 0 && head != a)
        rc = MODEL_ERR(f, "output_activation is %s but the architecture ends with a %s layer",
                       text, model_activation_name((enum model_activation)head));
    else
        m->activation = (enum model_activation)a;
    free(text);
    return rc;
}

static void shape_text(char *buf, size_t cap, int rank, const int64_t *dims)
{
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

static int read_tensor(struct h5table_file *f, struct net_param *p)
{
    int rc = h5table_exists(f, p->name);
    if (rc < 0) return -1;
    if (rc == 0) return MODEL_ERR(f, "tensor '%s' is missing", p->name);
    enum h5table_type type;
    int rank;
    uint64_t dims[H5TABLE_MAX_RANK];
    if (h5table_array_info(f, p->name, &type, &rank, dims)) return -1;
    if (type != H5TABLE_F32)
        return MODEL_ERR(f, "tensor '%s' has dtype %s, expected float32", p->name,
                         type ? h5table_type_name(type) : "non-numeric");
    int same = rank == p->value.ndim;
    int64_t got[H5TABLE_MAX_RANK], want[TENSOR_MAX_DIMS];
    for (int i = 0; i < rank; i++)
        got[i] = (int64_t)dims[i];
    for (int i = 0; i < p->value.ndim; i++) {
        want[i] = p->value.shape[i];
        same = same && got[i] == want[i];
    }
    if (!same) {
        char g[128], w[128];
        shape_text(g, sizeof g, rank, got);
        shape_text(w, sizeof w, p->value.ndim, want);
        return MODEL_ERR(f, "tensor '%s' has shape %s, the architecture needs %s", p->name, g, w);
    }
    float *data = NULL;
    if (h5table_read_array(f, p->name, H5TABLE_F32, rank, dims, (void **)&data)) return -1;
    size_t n = tensor_numel(&p->value);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(data[i])) {
            rc = MODEL_ERR(f, "tensor '%s' has a non-finite value (%g) at flat index %zu",
                           p->name, (double)data[i], i);
            free(data);
            return rc;
        }
    memcpy(p->value.data, data, n * sizeof *data);
    free(data);
    return 0;
}

/* Root datasets with a '.' that are not parameters of the net. */
static int check_unexpected(struct h5table_file *f, struct net *net)
{
    char **names = NULL;
    size_t n = 0;
    if (h5table_list(f, "/", &names, &n)) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *dot = strrchr(names[i], '.');
        if (!dot || !strcmp(dot, ".num_batches_tracked")) continue;
        int found = 0;
        for (int j = 0; j < net_param_count(net) && !found; j++)
            found = !strcmp(net_param_at(net, j)->name, names[i]);
        if (!found)
            rc = MODEL_ERR(f, "tensor '%s' is not a parameter of the architecture", names[i]);
    }
    h5table_list_free(names, n);
    return rc;
}

static int read_header(struct h5table_file *f)
{
    char *fmt = NULL;
    int64_t ver = 0;
    int has = h5table_attr_exists(f, "/", "format");
    if (has < 0) return -1;
    if (!has) return MODEL_ERR(f, "%s", "not a model file (no 'format' attribute)");
    if (h5table_attr_get_str(f, "/", "format", &fmt)) return -1;
    int rc = strcmp(fmt, MODEL_FORMAT) ? MODEL_ERR(f, "format is '%s', not '%s'", fmt,
                                                   MODEL_FORMAT)
                                       : 0;
    free(fmt);
    if (!rc && h5table_attr_get_i64(f, "/", "format_version", &ver)) rc = -1;
    if (!rc && (ver < 1 || ver > MODEL_FORMAT_VERSION))
        rc = MODEL_ERR(f, "format_version %lld is not supported (1..%d)", (long long)ver,
                       MODEL_FORMAT_VERSION);
    return rc;
}

int model_read(struct model *m, struct h5table_file *f, int max_batch, unsigned flags)
{
    model_release(m);
    char *arch = NULL;
    struct net_layer_spec *specs = NULL;
    int n = 0;
    if (read_header(f) || h5table_attr_get_str(f, "/", "architecture", &arch)) return -1;
    int rc = model_arch_parse(arch, h5table_path(f), &specs, &n);
    free(arch);
    if (!rc && model_build(m, specs, n, max_batch, flags))
        rc = err_wrap("cannot load model '%s': ", h5table_path(f));
    free(specs);
    rc = rc || read_shape_attr(f, "input_channels", m->channels) ||
         read_shape_attr(f, "input_height", m->height) ||
         read_shape_attr(f, "input_width", m->width) ||
         read_norm(f, "mean", m->channels, m->mean, 0) ||
         read_norm(f, "std", m->channels, m->std, 1) || read_class_names(f, m) ||
         read_activation(f, m);
    for (int i = 0; !rc && i < net_param_count(m->net); i++)
        rc = read_tensor(f, net_param_at(m->net, i));
    rc = rc || check_unexpected(f, m->net);
    if (rc) {
        model_release(m);
        return -1;
    }
    return 0;
}

int model_load(struct model *m, const char *path, int max_batch, unsigned flags)
{
    struct h5table_file *f = h5table_open(path);
    if (!f) return err_wrap("cannot load model '%s': ", path);
    int rc = model_read(m, f, max_batch, flags);
    if (h5table_close(f)) rc = -1;
    return rc;
}

/* ---- writing -------------------------------------------------------------------------- */

static char *class_names_json(const struct model *m)
{
    cJSON *a = cJSON_CreateArray();
    int rc = !a;
    for (int k = 0; !rc && k < m->n_classes; k++)
        rc = !cJSON_AddItemToArray(a, cJSON_CreateString(m->class_names[k]));
    char *text = rc ? NULL : cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    if (!text) err_set("cannot format class names: out of memory");
    return text;
}

static int write_tensor(struct h5table_file *f, const struct net_param *p)
{
    size_t n = tensor_numel(&p->value);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p->value.data[i]))
            return err_set("cannot save model '%s': tensor '%s' has a non-finite value at flat "
                           "index %zu", h5table_path(f), p->name, i);
    uint64_t dims[TENSOR_MAX_DIMS];
    for (int d = 0; d < p->value.ndim; d++)
        dims[d] = (uint64_t)p->value.shape[d];
    return h5table_write_array(f, p->name, H5TABLE_F32, p->value.ndim, dims, p->value.data);
}

int model_write(struct h5table_file *f, const struct model *m)
{
    char *arch = model_arch_format(m->specs, m->n_layers);
    char *names = arch ? class_names_json(m) : NULL;
    int rc = !names ||
             h5table_attr_set_str(f, "/", "format", MODEL_FORMAT) ||
             h5table_attr_set_i64(f, "/", "format_version", MODEL_FORMAT_VERSION) ||
             h5table_attr_set_str(f, "/", "architecture", arch) ||
             h5table_attr_set_i64(f, "/", "input_channels", m->channels) ||
             h5table_attr_set_i64(f, "/", "input_height", m->height) ||
             h5table_attr_set_i64(f, "/", "input_width", m->width) ||
             h5table_attr_set_f64_array(f, "/", "mean", m->mean, (size_t)m->channels) ||
             h5table_attr_set_f64_array(f, "/", "std", m->std, (size_t)m->channels) ||
             h5table_attr_set_str(f, "/", "class_names", names) ||
             h5table_attr_set_str(f, "/", "output_activation",
                                  model_activation_name(m->activation));
    free(arch);
    cJSON_free(names);
    for (int i = 0; !rc && i < net_param_count(m->net); i++)
        rc = write_tensor(f, net_param_at(m->net, i));
    return rc ? -1 : 0;
}

int model_save(const struct model *m, const char *path, const char *stage,
               const char *params_json, const struct h5table_input *inputs, int ninputs)
{
    struct h5table_file *f = h5table_create(path);
    if (!f) return -1;
    if (model_write(f, m) ||
        h5table_write_provenance(f, stage, params_json ? params_json : "{}", inputs, ninputs)) {
        h5table_abort(f);
        return -1;
    }
    return h5table_commit(f);
}
