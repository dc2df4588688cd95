/* Fuzz target: the model file loader (formats/model: attributes and tensor shapes). The input is
 * an architecture JSON text, a NUL, then edits. A model of that architecture is written with
 * the h5table API as model_write would, except for the edits (op, arg) pairs, op % 12:
 *   0 drop tensor, 1 change one dimension, 2 add a dimension, 3 store as float64, 4 put a NaN,
 *   5 extra tensor (a stranger or a num_batches_tracked), 6 input_* attribute off by one,
 *   7 mean/std of another length, 8 std <= 0, 9 class_names text, 10 output_activation,
 *   11 format/format_version/attribute removal.
 * model_load must then succeed (and give back the weights when there is no edit) or fail with
 * one "cannot load model" message. The file bytes themselves are HDF5's business: see
 * fuzz_h5table for corrupt files. */
#include "tests/fuzz/fuzz.h"

#include <math.h>

#include "formats/model.h"

#define FMOD_MAX_PARAM_FLOATS ((size_t)1 << 20)
#define FMOD_MAX_ACT_BYTES ((size_t)256 << 20) /* bigger nets are not built (malloc limit) */
#define FMOD_MAX_EDITS 8

struct fmod_edit {
    unsigned op, arg;
};

struct fmod_plan {
    struct fmod_edit e[FMOD_MAX_EDITS];
    int n;
};

static int fmod_has(const struct fmod_plan *p, unsigned op, unsigned *arg)
{
    for (int i = 0; i < p->n; i++)
        if (p->e[i].op == op) return *arg = p->e[i].arg, 1;
    return 0;
}

/* Writes tensor k with the edits that touch it. */
static int fmod_tensor(struct h5table_file *f, struct net_param *p, int k,
                       const struct fmod_plan *plan)
{
    uint64_t dims[H5TABLE_MAX_RANK];
    int rank = p->value.ndim;
    size_t n = tensor_numel(&p->value);
    for (int i = 0; i < rank; i++) dims[i] = (uint64_t)p->value.shape[i];
    unsigned a;
    if (fmod_has(plan, 0, &a) && (int)(a % 64) == k) return 0;
    if (fmod_has(plan, 1, &a) && (int)(a % 64) == k && rank > 0) {
        dims[(a >> 6) % rank] += 1;
        n = 1;
        for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    }
    if (fmod_has(plan, 2, &a) && (int)(a % 64) == k && rank < H5TABLE_MAX_RANK)
        dims[rank++] = 1;
    float *buf = calloc(n ? n : 1, sizeof *buf);
    double *dbl = calloc(n ? n : 1, sizeof *dbl);
    if (!buf || !dbl) abort();
    memcpy(buf, p->value.data, (n < tensor_numel(&p->value) ? n : tensor_numel(&p->value)) *
                                   sizeof *buf);
    if (fmod_has(plan, 4, &a) && (int)(a % 64) == k && n) buf[(a >> 6) % n] = NAN;
    for (size_t i = 0; i < n; i++) dbl[i] = buf[i];
    int rc = fmod_has(plan, 3, &a) && (int)(a % 64) == k
                 ? h5table_write_array(f, p->name, H5TABLE_F64, rank, dims, dbl)
                 : h5table_write_array(f, p->name, H5TABLE_F32, rank, dims, buf);
    free(buf);
    free(dbl);
    return rc;
}

static int fmod_attrs(struct h5table_file *f, const struct model *m, const char *arch,
                      const struct fmod_plan *plan)
{
    static const char *const names[] = {"[\"a\"]", "not json", "[1, 2]", "{}",
                                        ("[\"0123456789012345678901234567890123456789"
                                         "012345678901234567890123456789\"]"), "[]"};
    static const char *const acts[] = {"softmax", "sigmoid", "relu", ""};
    double mean[MODEL_MAX_CHANNELS + 2] = {0}, std[MODEL_MAX_CHANNELS + 2];
    int64_t shape[3] = {m->channels, m->height, m->width};
    size_t nmean = (size_t)m->channels, nstd = nmean;
    unsigned a, skip = ~0u;
    for (int i = 0; i < MODEL_MAX_CHANNELS + 2; i++) std[i] = 0.5;
    if (fmod_has(plan, 6, &a)) shape[a % 3] += (a & 4) ? 1 : -1;
    if (fmod_has(plan, 7, &a)) *((a & 1) ? &nmean : &nstd) = (a >> 1) % (MODEL_MAX_CHANNELS + 2);
    if (fmod_has(plan, 8, &a)) std[a % (unsigned)m->channels] = (a & 16) ? 0.0 : -1.0;
    if (fmod_has(plan, 11, &a)) skip = a % 10;
    char *classes = NULL;
    if (fmod_has(plan, 9, &a)) {
        classes = strdup(names[a % 6]);
    } else {
        size_t cap = (size_t)m->n_classes * 8 + 3, len = 1;
        classes = malloc(cap);
        if (!classes) abort();
        classes[0] = '[';
        for (int k = 0; k < m->n_classes; k++)
            len += (size_t)snprintf(classes + len, cap - len, "%s\"%d\"", k ? "," : "", k);
        snprintf(classes + len, cap - len, "]");
    }
    const char *act = model_activation_name(m->activation);
    if (fmod_has(plan, 10, &a)) act = acts[a % 4];
    /* skip: 0..7 leave out format, format_version, architecture, mean, std, class_names,
     * output_activation, input_width; 8 another format; 9 format_version 2 */
    const char *format = skip == 8 ? "other" : MODEL_FORMAT;
    int rc = (skip == 0 ? 0 : h5table_attr_set_str(f, "/", "format", format)) ||
             (skip == 1 ? 0 : h5table_attr_set_i64(f, "/", "format_version", skip == 9 ? 2 : 1)) ||
             (skip == 2 ? 0 : h5table_attr_set_str(f, "/", "architecture", arch)) ||
             h5table_attr_set_i64(f, "/", "input_channels", shape[0]) ||
             h5table_attr_set_i64(f, "/", "input_height", shape[1]) ||
             (skip == 7 ? 0 : h5table_attr_set_i64(f, "/", "input_width", shape[2])) ||
             (skip == 3 || !nmean ? 0 : h5table_attr_set_f64_array(f, "/", "mean", mean,
                                                                    nmean)) ||
             (skip == 4 || !nstd ? 0 : h5table_attr_set_f64_array(f, "/", "std", std, nstd)) ||
             (skip == 5 ? 0 : h5table_attr_set_str(f, "/", "class_names", classes)) ||
             (skip == 6 ? 0 : h5table_attr_set_str(f, "/", "output_activation", act));
    free(classes);
    return rc;
}

static int fmod_write(const char *path, struct model *m, const char *arch,
                      const struct fmod_plan *plan)
{
    struct h5table_file *f = h5table_create(path);
    if (!f) return -1;
    int rc = fmod_attrs(f, m, arch, plan);
    for (int k = 0; !rc && k < net_param_count(m->net); k++)
        rc = fmod_tensor(f, net_param_at(m->net, k), k, plan);
    unsigned a;
    if (!rc && fmod_has(plan, 5, &a)) {
        float v[2] = {1, 2};
        uint64_t d[1] = {2};
        const char *name = (a & 1) ? "stranger.weight" : "fc.num_batches_tracked";
        if (h5table_exists(f, name) == 0)
            rc = h5table_write_array(f, name, H5TABLE_F32, 1, d, v);
    }
    if (rc) {
        h5table_abort(f);
        return -1;
    }
    return h5table_commit(f);
}

int fuzz_model_file(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul) return 0;
    char *arch = fuzz_strndup(data, (size_t)(nul - data));
    struct fmod_plan plan = {.n = 0};
    struct fuzz_reader r = {nul + 1, size - (size_t)(nul + 1 - data)};
    while (r.n >= 2 && plan.n < FMOD_MAX_EDITS) {
        plan.e[plan.n].op = fuzz_u8(&r) % 12;
        plan.e[plan.n++].arg = fuzz_u8(&r);
    }
    struct net_layer_spec *specs = NULL;
    int n = 0;
    struct model m, back;
    model_init(&m);
    model_init(&back);
    size_t pbytes = 0, abytes = 0;
    if (model_arch_parse(arch, "fuzz", &specs, &n) ||
        net_arena_need(specs, n, 1, NET_NO_GRAD, &pbytes, &abytes) ||
        abytes > FMOD_MAX_ACT_BYTES || pbytes > FMOD_MAX_PARAM_FLOATS * sizeof(float) ||
        model_build(&m, specs, n, 1, NET_NO_GRAD))
        goto done;
    net_arena_bytes(m.net, &pbytes, &abytes);
    if (pbytes > FMOD_MAX_PARAM_FLOATS * sizeof(float)) goto done;
    for (int k = 0; k < net_param_count(m.net); k++) {
        struct net_param *p = net_param_at(m.net, k);
        for (size_t i = 0; i < tensor_numel(&p->value); i++)
            p->value.data[i] = 0.5f + 0.01f * (float)((i + (size_t)k) % 7);
    }
    char path[600];
    if (fmod_write(fuzz_path(path, sizeof path, "model.h5"), &m, arch, &plan)) {
        FUZZ_CHECK(!"cannot write the model file");
        goto done;
    }
    if (model_load(&back, path, 1, NET_NO_GRAD) != 0) {
        /* "cannot load model '<path>': ..." or, from h5table, "cannot read attribute ... in
         * '<path>'": either way one message naming the file */
        FUZZ_CHECK(fuzz_msg_ok("cannot ") && strstr(err_msg(), path) && back.net == NULL);
        FUZZ_CHECK(plan.n > 0);
        goto done;
    }
    FUZZ_CHECK(back.n_classes == m.n_classes && back.channels == m.channels);
    FUZZ_CHECK(net_param_count(back.net) == net_param_count(m.net));
    for (int k = 0; plan.n == 0 && k < net_param_count(m.net); k++) {
        struct net_param *p = net_param_at(m.net, k), *q = net_param_at(back.net, k);
        FUZZ_CHECK(tensor_numel(&p->value) == tensor_numel(&q->value) &&
                   !memcmp(p->value.data, q->value.data,
                           tensor_numel(&p->value) * sizeof(float)));
    }
done:
    model_release(&m);
    model_release(&back);
    free(specs);
    free(arch);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_model_file(data, size);
}
#endif
