/* Tests of formats/model: architecture JSON parse -> canonical format -> parse round trip (every
 * layer kind), save -> load round trip (weights bitwise, preprocessing, class names, the same
 * forward output), and every validation error on load, each from a bad file made here through
 * h5table: missing/shape-mismatched/float64/NaN/unexpected tensor, unknown layer type, unknown
 * key, malformed JSON, inconsistent attributes, not a model file, no such file. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/h5table.h"
#include "formats/model.h"
#include "pipeline/err.h"
#include "pipeline/init.h"
#include "pipeline/net.h"
#include "tests/check.h"

/* Every kind: input, conv (bias and grouped), batchnorm, relu, max/avg pool, add, concat,
 * dropout, global_avgpool, flatten, linear, sigmoid. */
static const char *const arch_json =
    "{\"format\": \"salbench-net\", \"version\": 1, \"layers\": ["
    "{\"kind\": \"input\", \"name\": \"input\", \"channels\": 3, \"height\": 9, \"width\": 8},"
    "{\"kind\": \"conv2d\", \"name\": \"conv1\", \"out_channels\": 4, \"kernel_size\": 3,"
    " \"padding\": 1, \"bias\": false},"
    "{\"kind\": \"batchnorm2d\", \"name\": \"bn1\", \"eps\": 1e-3},"
    "{\"kind\": \"relu\", \"name\": \"relu1\"},"
    "{\"kind\": \"conv2d\", \"name\": \"conv2\", \"out_channels\": 4, \"kernel_size\": [3, 1],"
    " \"padding\": [1, 0], \"groups\": 2},"
    "{\"kind\": \"add\", \"name\": \"res\", \"inputs\": [\"relu1\", \"conv2\"]},"
    "{\"kind\": \"maxpool2d\", \"name\": \"mp\", \"kernel_size\": 2, \"ceil_mode\": true},"
    "{\"kind\": \"avgpool2d\", \"name\": \"ap\", \"kernel_size\": 3, \"stride\": 1,"
    " \"padding\": 1, \"count_include_pad\": false, \"inputs\": [\"mp\"]},"
    "{\"kind\": \"concat\", \"name\": \"cat\", \"inputs\": [\"mp\", \"ap\"]},"
    "{\"kind\": \"dropout\", \"name\": \"drop\", \"p\": 0.25},"
    "{\"kind\": \"global_avgpool\", \"name\": \"gap\"},"
    "{\"kind\": \"flatten\", \"name\": \"flat\"},"
    "{\"kind\": \"linear\", \"name\": \"fc\", \"out_features\": 3},"
    "{\"kind\": \"sigmoid\", \"name\": \"probs\"}]}";

static char dir[] = "/tmp/test_model.XXXXXX";

static const char *tpath(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int make_model(struct model *m, const char *json, int max_batch)
{
    struct net_layer_spec *s = NULL;
    int n = 0;
    model_init(m);
    int rc = model_arch_parse(json, "test", &s, &n) || model_build(m, s, n, max_batch, 0);
    free(s);
    if (rc) return -1;
    init_net(m->net, 42, INIT_PYTORCH);
    for (int i = 0; i < net_param_count(m->net); i++) { /* non-trivial running stats */
        struct net_param *p = net_param_at(m->net, i);
        if (!p->trainable)
            for (size_t j = 0; j < tensor_numel(&p->value); j++)
                p->value.data[j] += 0.25f * (float)j;
    }
    m->mean[0] = 0.5, m->mean[1] = 0.4, m->mean[2] = 0.3;
    m->std[0] = 0.2, m->std[1] = 0.25, m->std[2] = 0.3;
    strcpy(m->class_names[0], "cat"), strcpy(m->class_names[1], "dog");
    strcpy(m->class_names[2], "b\xc3\xa9te");
    return 0;
}

static void test_arch_round_trip(void)
{
    struct net_layer_spec *a = NULL, *b = NULL;
    int na = 0, nb = 0;
    int rc = model_arch_parse(arch_json, "test", &a, &na);
    CHECK(rc == 0 && na == 14, "model_arch_parse", "%s", err_msg());
    char *text = rc ? NULL : model_arch_format(a, na);
    rc = !text || model_arch_parse(text, "formatted", &b, &nb);
    CHECK(rc == 0 && nb == na && !memcmp(a, b, (size_t)na * sizeof *a), "model_arch_round_trip",
          "%s\n%s", err_msg(), text ? text : "");
    CHECK(a && a[2].eps == 1e-3f && a[4].kernel[0] == 3 && a[4].kernel[1] == 1 &&
              a[4].groups == 2 && a[1].bias == 0 && a[6].ceil_mode == 1 && a[8].n_inputs == 2 &&
              a[9].p == 0.25f && a[7].count_include_pad == 0,
          "model_arch_fields", "");
    free(text);
    free(a);
    free(b);
}

static int params_equal(struct net *x, struct net *y)
{
    if (net_param_count(x) != net_param_count(y)) return 0;
    for (int i = 0; i < net_param_count(x); i++) {
        struct net_param *p = net_param_at(x, i), *q = net_param_at(y, i);
        if (strcmp(p->name, q->name) || !tensor_same_shape(&p->value, &q->value) ||
            memcmp(p->value.data, q->value.data, tensor_numel(&p->value) * sizeof(float)))
            return 0;
    }
    return 1;
}

static void test_save_load(void)
{
    struct model m, r;
    model_init(&r);
    if (!CHECK(make_model(&m, arch_json, 2) == 0, "model_build", "%s", err_msg())) return;
    int rc = model_save(&m, tpath("m.h5"), "test", "{\"seed\": 42}", NULL, 0);
    CHECK(rc == 0, "model_save", "%s", err_msg());
    rc = model_load(&r, tpath("m.h5"), 2, NET_NO_GRAD);
    CHECK(rc == 0, "model_load", "%s", err_msg());
    if (rc) goto done;
    CHECK(params_equal(m.net, r.net), "model_round_trip_weights", "weights differ");
    CHECK(r.channels == 3 && r.height == 9 && r.width == 8 && r.n_classes == 3 &&
              r.activation == MODEL_SIGMOID && r.mean[1] == 0.4 && r.std[2] == 0.3 &&
              !strcmp(r.class_names[2], "b\xc3\xa9te"),
          "model_round_trip_preprocessing", "C %d H %d W %d K %d act %d", r.channels, r.height,
          r.width, r.n_classes, (int)r.activation);
    float x[2 * 3 * 9 * 8];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++)
        x[i] = (float)sin(0.37 * (double)i);
    net_forward(m.net, x, 2, NET_EVAL, NULL);
    net_forward(r.net, x, 2, NET_EVAL, NULL);
    struct tensor a = net_act(m.net, net_output_layer(m.net));
    struct tensor b = net_act(r.net, net_output_layer(r.net));
    CHECK(!memcmp(a.data, b.data, 2 * 3 * sizeof(float)), "model_round_trip_forward",
          "%g vs %g", (double)a.data[0], (double)b.data[0]);
    /* Saving the loaded model gives the same content hash. */
    uint64_t h1 = 0, h2 = 1;
    rc = model_save(&r, tpath("m2.h5"), "test", "{\"seed\": 42}", NULL, 0) ||
         h5table_content_hash_path(tpath("m.h5"), &h1) ||
         h5table_content_hash_path(tpath("m2.h5"), &h2);
    CHECK(rc == 0 && h1 == h2, "model_resave_same_hash", "%s", err_msg());
done:
    model_release(&m);
    model_release(&r);
}

/* Bad-file variants: the tensor `victim` is written wrongly (or not at all). */
enum bad { BAD_NONE, BAD_MISSING, BAD_SHAPE, BAD_F64, BAD_NAN, BAD_EXTRA };

static int write_variant(const char *path, const struct model *m, enum bad how,
                         const char *victim, const char *arch_override, const char *act)
{
    struct h5table_file *f = h5table_create(path);
    if (!f) return -1;
    char *arch = model_arch_format(m->specs, m->n_layers);
    int rc = h5table_attr_set_str(f, "/", "format", MODEL_FORMAT) ||
             h5table_attr_set_i64(f, "/", "format_version", 1) ||
             h5table_attr_set_str(f, "/", "architecture", arch_override ? arch_override : arch) ||
             h5table_attr_set_i64(f, "/", "input_channels", 3) ||
             h5table_attr_set_i64(f, "/", "input_height", 9) ||
             h5table_attr_set_i64(f, "/", "input_width", 8) ||
             h5table_attr_set_f64_array(f, "/", "mean", m->mean, 3) ||
             h5table_attr_set_f64_array(f, "/", "std", m->std, 3) ||
             h5table_attr_set_str(f, "/", "class_names", "[\"a\", \"b\", \"c\"]") ||
             h5table_attr_set_str(f, "/", "output_activation", act ? act : "sigmoid");
    free(arch);
    for (int i = 0; !rc && i < net_param_count(m->net); i++) {
        const struct net_param *p = net_param_at(m->net, i);
        uint64_t dims[4];
        size_t n = tensor_numel(&p->value);
        for (int d = 0; d < p->value.ndim; d++)
            dims[d] = (uint64_t)p->value.shape[d];
        int hit = !strcmp(p->name, victim);
        if (hit && how == BAD_MISSING) continue;
        if (hit && how == BAD_F64) {
            double *v = calloc(n, sizeof *v);
            rc = !v || h5table_write_array(f, p->name, H5TABLE_F64, p->value.ndim, dims, v);
            free(v);
            continue;
        }
        float *v = malloc(n * sizeof *v);
        if (!v) return -1;
        memcpy(v, p->value.data, n * sizeof *v);
        if (hit && how == BAD_NAN) v[n / 2] = NAN;
        if (hit && how == BAD_SHAPE) dims[0] = 1;
        rc = h5table_write_array(f, p->name, H5TABLE_F32, p->value.ndim, dims, v);
        free(v);
    }
    if (!rc && how == BAD_EXTRA) {
        float one = 1;
        uint64_t d1 = 1;
        rc = h5table_write_array(f, victim, H5TABLE_F32, 1, &d1, &one) ||
             h5table_write_array(f, "bn1.num_batches_tracked", H5TABLE_F32, 1, &d1, &one);
    }
    if (rc) {
        h5table_abort(f);
        return -1;
    }
    return h5table_commit(f);
}

/* Loading `path` must fail with a message containing every one of the words. */
static void expect_load_error(const char *name, const char *path, const char *w1,
                              const char *w2)
{
    struct model r;
    model_init(&r);
    err_clear();
    int rc = model_load(&r, path, 1, NET_NO_GRAD);
    const char *msg = err_msg();
    if (getenv("TEST_MODEL_VERBOSE")) fprintf(stderr, "%s: %s\n", name, msg);
    CHECK(rc == -1 && r.net == NULL && strstr(msg, w1) && (!w2 || strstr(msg, w2)), name,
          "rc %d message '%s' (wanted '%s' and '%s')", rc, msg, w1, w2 ? w2 : "");
    model_release(&r);
}

static void test_validation(void)
{
    struct model m;
    if (make_model(&m, arch_json, 1)) return;
    const struct { enum bad how; const char *victim, *file, *name, *word; } cases[] = {
        {BAD_NONE, "", "ok.h5", NULL, NULL},
        {BAD_MISSING, "conv2.bias", "missing.h5", "model_error_missing_tensor", "is missing"},
        {BAD_SHAPE, "conv1.weight", "shape.h5", "model_error_shape", "has shape [1, 3, 3, 3]"},
        {BAD_F64, "fc.weight", "f64.h5", "model_error_dtype", "float64"},
        {BAD_NAN, "bn1.running_var", "nan.h5", "model_error_nan", "non-finite"},
        {BAD_EXTRA, "conv9.weight", "extra.h5", "model_error_unexpected", "not a parameter"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = write_variant(tpath(cases[i].file), &m, cases[i].how, cases[i].victim, NULL,
                               NULL);
        if (rc) { /* reported only on failure: one name per case below */
            CHECK(0, "model_write_variant", "%s: %s", cases[i].file, err_msg());
            continue;
        }
        if (!cases[i].name) {
            struct model r;
            model_init(&r);
            CHECK(model_load(&r, tpath(cases[i].file), 1, 0) == 0, "model_variant_ok", "%s",
                  err_msg());
            model_release(&r);
            continue;
        }
        expect_load_error(cases[i].name, tpath(cases[i].file), cases[i].word, cases[i].victim);
    }
    const struct { const char *arch, *act, *name, *w1, *w2; } attrs[] = {
        {"{\"layers\": [{\"kind\": \"input\", \"name\": \"input\", \"channels\": 3, \"height\": 9,"
         " \"width\": 8}, {\"kind\": \"conv3d\", \"name\": \"c\"}]}",
         NULL, "model_error_unknown_layer", "unknown layer type 'conv3d'", "layer 1 'c'"},
        {"{\"layers\": [{\"kind\": \"input\", \"name\": \"input\", \"channels\": 3, \"height\": 9,"
         " \"width\": 8}, {\"kind\": \"relu\", \"name\": \"r\", \"inplace\": true}]}",
         NULL, "model_error_unknown_key", "unknown key 'inplace'", NULL},
        {"{\"layers\": [{\"kind\": \"input\"", NULL, "model_error_malformed_json",
         "malformed JSON", NULL},
        {"{\"layers\": [{\"kind\": \"input\", \"name\": \"input\", \"channels\": 03}]}",
         NULL, "model_error_leading_zero", "at byte 59: a number with a leading zero", NULL},
        {"{\"layers\": [{\"kind\": \"input\", \"name\": \"input\", \"channels\": 3,"
         " \"height\": 9, \"width\": 8, \"height\": 10}]}",
         NULL, "model_error_duplicate_key", "the key 'height' twice", NULL},
        {NULL, "softmax", "model_error_activation", "ends with a sigmoid layer", NULL},
        {NULL, "tanh", "model_error_activation_name", "'tanh'", NULL},
    };
    for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++) {
        if (write_variant(tpath("attr.h5"), &m, BAD_NONE, "", attrs[i].arch, attrs[i].act))
            continue;
        expect_load_error(attrs[i].name, tpath("attr.h5"), attrs[i].w1, attrs[i].w2);
    }
    /* Not a model file: an HDF5 file without the format attribute; and no file at all. */
    struct h5table_file *f = h5table_create(tpath("plain.h5"));
    uint64_t d1 = 1;
    float one = 1;
    if (f && !h5table_write_array(f, "x", H5TABLE_F32, 1, &d1, &one)) h5table_commit(f);
    expect_load_error("model_error_not_a_model", tpath("plain.h5"), "no 'format' attribute",
                      "plain.h5");
    expect_load_error("model_error_no_file", tpath("absent.h5"), "absent.h5", NULL);
    model_release(&m);
}

/* A PyTorch model converted by data/models/convert_torch.py reproduces PyTorch's output. */
static void test_converted(void)
{
    const char *path = "tests/ref/convert_fixture.h5";
    struct model m;
    model_init(&m);
    struct h5table_file *f = NULL;
    float *x = NULL, *y = NULL;
    uint64_t dx[H5TABLE_MAX_RANK], dy[H5TABLE_MAX_RANK];
    int rc = model_load(&m, path, 2, NET_NO_GRAD);
    if (!CHECK(rc == 0, "model_load_converted", "%s", err_msg())) return;
    f = h5table_open(path);
    rc = !f || h5table_read_array(f, "test_input", H5TABLE_F32, 4, dx, (void **)&x) ||
         h5table_read_array(f, "test_output", H5TABLE_F32, 2, dy, (void **)&y);
    if (CHECK(rc == 0 && dx[0] == 2 && dy[1] == 5, "model_converted_fixture", "%s", err_msg())) {
        net_forward(m.net, x, 2, NET_EVAL, NULL);
        check_close("model_converted_matches_torch", net_act(m.net, net_output_layer(m.net)).data,
                    y, 10, 1e-4, 1e-4);
        CHECK(!strcmp(m.class_names[4], "e") && m.activation == MODEL_SOFTMAX &&
                  m.std[1] == 0.25,
              "model_converted_attributes", "");
    }
    h5table_close(f);
    free(x);
    free(y);
    model_release(&m);
}

int main(void)
{
    if (!mkdtemp(dir)) return CHECK(0, "model_mkdtemp", "failed"), check_summary();
    test_arch_round_trip();
    test_save_load();
    test_validation();
    test_converted();
    const char *names[] = {"m.h5", "m2.h5", "ok.h5", "missing.h5", "shape.h5", "f64.h5",
                           "nan.h5", "extra.h5", "attr.h5", "plain.h5"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        unlink(tpath(names[i]));
    rmdir(dir);
    return check_summary();
}
