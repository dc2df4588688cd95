/* Hand-built inputs for the score stage tests, and checks of stages/score_data on them.
 *   test_score_fixture DIR   writes DIR/{model,other,examples,examples_nomask}.h5 and the
 *                            saliency files below (tests/score.sh runs bin/score on them)
 *   test_score_fixture       writes them to a temp dir and checks what score_data accepts.
 * examples.h5: 6 scenes 48x48 RGB, 4 classes, 1-2 rectangular objects each (with masks; one
 * object VOC-difficult), in load's schema. model.h5: a seeded tiny CNN with a softmax head;
 * other.h5 the same architecture with another seed. Saliency files (trials: one per example
 * and class present, ascending): sal.h5 with maps gradient and center (computed by
 * pipeline/saliency, parameters recorded), oracle (the trial's ground-truth mask) and constant;
 * sal_other.h5 (provenance names other.h5), sal_badid.h5 (an unknown example id),
 * sal_unsorted.h5, sal_badrow.h5 (a trial's examples row is wrong), sal_shape.h5 (32x32 maps), sal_nan.h5 (gradient with a NaN map), and
 * sal_nomask.h5 (against examples_nomask.h5, whose objects have boxes only). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/chash.h"
#include "formats/h5table.h"
#include "formats/model.h"
#include "pipeline/err.h"
#include "pipeline/init.h"
#include "pipeline/preprocess.h"
#include "pipeline/saliency.h"
#include "stages/score_data.h"
#include "tests/check.h"

#define FX_N 6
#define FX_S 48
#define FX_C 3
#define FX_K 4
#define FX_HW (FX_S * FX_S)
#define FX_MAXT 16

struct fx_example_row {
    uint64_t example_id;
    char source[64];
    int64_t source_id;
    int32_t width, height, channels, label, n_labels, n_objects;
    char split[16];
};
struct fx_object_row {
    uint64_t example_id;
    int64_t annotation_id;
    int32_t object_index, class_id;
    float x0, y0, x1, y1, area;
    uint8_t iscrowd, difficult, has_mask, clipped;
};
struct fx_class_row {
    int32_t class_id;
    int64_t source_id;
    char name[64];
};
struct fx_trial_row {
    uint64_t example_id;
    int32_t class_id;
    int64_t row;
    char reason[16];
};

#define EX(f, t) H5TABLE_COLUMN(struct fx_example_row, f, t)
static const struct h5table_column ex_cols[] = {
    EX(example_id, H5TABLE_U64), EX(source, H5TABLE_STR),   EX(source_id, H5TABLE_I64),
    EX(width, H5TABLE_I32),      EX(height, H5TABLE_I32),   EX(channels, H5TABLE_I32),
    EX(label, H5TABLE_I32),      EX(n_labels, H5TABLE_I32), EX(n_objects, H5TABLE_I32),
    EX(split, H5TABLE_STR)};
#undef EX
#define OB(f, t) H5TABLE_COLUMN(struct fx_object_row, f, t)
static const struct h5table_column ob_cols[] = {
    OB(example_id, H5TABLE_U64), OB(object_index, H5TABLE_I32), OB(annotation_id, H5TABLE_I64),
    OB(class_id, H5TABLE_I32),   OB(x0, H5TABLE_F32),           OB(y0, H5TABLE_F32),
    OB(x1, H5TABLE_F32),         OB(y1, H5TABLE_F32),           OB(area, H5TABLE_F32),
    OB(iscrowd, H5TABLE_U8),     OB(difficult, H5TABLE_U8),     OB(has_mask, H5TABLE_U8),
    OB(clipped, H5TABLE_U8)};
#undef OB
static const struct h5table_column cl_cols[] = {
    H5TABLE_COLUMN(struct fx_class_row, class_id, H5TABLE_I32),
    H5TABLE_COLUMN(struct fx_class_row, source_id, H5TABLE_I64),
    H5TABLE_COLUMN(struct fx_class_row, name, H5TABLE_STR)};
static const struct h5table_column tr_cols[] = {
    H5TABLE_COLUMN(struct fx_trial_row, example_id, H5TABLE_U64),
    H5TABLE_COLUMN(struct fx_trial_row, class_id, H5TABLE_I32),
    H5TABLE_COLUMN(struct fx_trial_row, row, H5TABLE_I64),
    H5TABLE_COLUMN(struct fx_trial_row, reason, H5TABLE_STR)};
static const struct h5table_schema ex_schema = {"examples", sizeof(struct fx_example_row), 10,
                                                ex_cols};
static const struct h5table_schema ob_schema = {"objects", sizeof(struct fx_object_row), 13,
                                                ob_cols};
static const struct h5table_schema cl_schema = {"classes", sizeof(struct fx_class_row), 3,
                                                cl_cols};
static const struct h5table_schema tr_schema = {"trials", sizeof(struct fx_trial_row), 4,
                                                tr_cols};

/* The data set, built once in memory in ascending example_id order. */
struct fx_data {
    uint8_t img[FX_N][FX_HW * FX_C];
    uint64_t ids[FX_N];
    struct fx_object_row obj[2 * FX_N];
    uint8_t masks[2 * FX_N][FX_HW];
    int n_obj;
    struct fx_trial_row trials[FX_MAXT];
    int trial_ex[FX_MAXT], n_trials;
};

static struct fx_data D;

/* Scene k: a colour gradient plus 1-2 rectangles of class (k + j) % K. */
static void make_scene(int k, uint8_t *img, struct fx_object_row *o, uint8_t (*m)[FX_HW],
                       int *no)
{
    int nobj = 1 + k % 2;
    for (int p = 0; p < FX_HW; p++)
        for (int c = 0; c < FX_C; c++)
            img[p * FX_C + c] = (uint8_t)(40 + (p % FX_S) * (c + 1) + k * 7 + (p / FX_S));
    for (int j = 0; j < nobj; j++) {
        int x0 = 4 + 20 * j + k, y0 = 6 + 3 * k + 10 * j, w = 12 + j * 4, h = 10 + k;
        memset(&o[j], 0, sizeof o[j]);
        o[j].object_index = j, o[j].annotation_id = 10 * k + j, o[j].class_id = (k + j) % FX_K;
        o[j].x0 = (float)x0, o[j].y0 = (float)y0, o[j].x1 = (float)(x0 + w);
        o[j].y1 = (float)(y0 + h), o[j].area = (float)(w * h), o[j].has_mask = 1;
        o[j].difficult = k == 2 && j == 0;
        memset(m[j], 0, FX_HW);
        for (int v = y0; v < y0 + h; v++)
            for (int u = x0; u < x0 + w; u++) {
                m[j][v * FX_S + u] = 1;
                for (int c = 0; c < FX_C; c++)
                    img[(v * FX_S + u) * FX_C + c] = (uint8_t)(200 - 50 * o[j].class_id + 20 * c);
            }
    }
    *no = nobj;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void build_data(void)
{
    static uint8_t img[FX_N][FX_HW * FX_C], masks[FX_N][2][FX_HW];
    static struct fx_object_row obj[FX_N][2];
    int nobj[FX_N];
    uint64_t key[FX_N][2];
    for (int k = 0; k < FX_N; k++) {
        make_scene(k, img[k], obj[k], masks[k], &nobj[k]);
        key[k][0] = chash_example_id(img[k], FX_S, FX_S, FX_C), key[k][1] = (uint64_t)k;
    }
    qsort(key, FX_N, sizeof key[0], cmp_u64);
    memset(&D, 0, sizeof D);
    for (int r = 0; r < FX_N; r++) {
        int k = (int)key[r][1];
        D.ids[r] = key[r][0];
        memcpy(D.img[r], img[k], sizeof D.img[r]);
        for (int cls = 0; cls < FX_K; cls++) /* trials: classes present, ascending */
            for (int j = 0; j < nobj[k]; j++)
                if (obj[k][j].class_id == cls) {
                    D.trials[D.n_trials] = (struct fx_trial_row){D.ids[r], cls, r, "label"};
                    D.trial_ex[D.n_trials++] = r;
                    break;
                }
        for (int j = 0; j < nobj[k]; j++) {
            D.obj[D.n_obj] = obj[k][j];
            D.obj[D.n_obj].example_id = D.ids[r];
            memcpy(D.masks[D.n_obj++], masks[k][j], FX_HW);
        }
    }
}

static int write_examples(const char *path, int with_masks)
{
    struct fx_example_row ex[FX_N];
    struct fx_class_row cl[FX_K];
    struct fx_object_row ob[2 * FX_N];
    uint8_t labels[FX_N][FX_K];
    memset(ex, 0, sizeof ex), memset(cl, 0, sizeof cl), memset(labels, 0, sizeof labels);
    for (int r = 0; r < FX_N; r++) {
        ex[r].example_id = D.ids[r];
        snprintf(ex[r].source, sizeof ex[r].source, "scene%d.png", r);
        ex[r].width = ex[r].height = FX_S, ex[r].channels = FX_C, ex[r].label = -1;
        snprintf(ex[r].split, sizeof ex[r].split, "test");
    }
    for (int i = 0; i < D.n_obj; i++) {
        ob[i] = D.obj[i], ob[i].has_mask = (uint8_t)with_masks;
        for (int r = 0; r < FX_N; r++)
            if (D.ids[r] == ob[i].example_id) {
                labels[r][ob[i].class_id] = 1, ex[r].n_objects++;
                if (ex[r].label < 0) ex[r].label = ob[i].class_id, ex[r].n_labels = 1;
            }
    }
    for (int k = 0; k < FX_K; k++) {
        cl[k].class_id = k, cl[k].source_id = k;
        snprintf(cl[k].name, sizeof cl[k].name, "c%d", k);
    }
    uint64_t idims[4] = {FX_N, FX_S, FX_S, FX_C}, ldims[2] = {FX_N, FX_K};
    uint64_t mdims[3] = {(uint64_t)D.n_obj, FX_S, FX_S};
    struct h5table_file *f = h5table_create(path);
    int rc = !f || h5table_write_table(f, "examples", &ex_schema, ex, FX_N) ||
             h5table_write_table(f, "objects", &ob_schema, ob, (size_t)D.n_obj) ||
             h5table_write_table(f, "classes", &cl_schema, cl, FX_K) ||
             h5table_write_array(f, "images", H5TABLE_U8, 4, idims, D.img) ||
             h5table_write_array(f, "labels", H5TABLE_U8, 2, ldims, labels) ||
             (with_masks && h5table_write_array(f, "masks", H5TABLE_U8, 3, mdims, D.masks)) ||
             h5table_write_provenance(f, "load", "{\"fixture\":true}", NULL, 0);
    if (rc) {
        h5table_abort(f);
        return -1;
    }
    return h5table_commit(f);
}

static void fx_specs(struct net_layer_spec *s, int *n)
{
    int k = 0;
    net_layer_spec_init(&s[k++], NET_INPUT, "input");
    s[0].channels = FX_C, s[0].height = FX_S, s[0].width = FX_S;
    net_layer_spec_init(&s[k++], NET_CONV2D, "conv1");
    s[k - 1].out_channels = 6, s[k - 1].kernel[0] = s[k - 1].kernel[1] = 3;
    s[k - 1].padding[0] = s[k - 1].padding[1] = 1;
    net_layer_spec_init(&s[k++], NET_RELU, "relu1");
    net_layer_spec_init(&s[k++], NET_MAXPOOL, "pool1");
    s[k - 1].kernel[0] = s[k - 1].kernel[1] = 2;
    net_layer_spec_init(&s[k++], NET_CONV2D, "conv2");
    s[k - 1].out_channels = 8, s[k - 1].kernel[0] = s[k - 1].kernel[1] = 3;
    s[k - 1].padding[0] = s[k - 1].padding[1] = 1;
    net_layer_spec_init(&s[k++], NET_RELU, "relu2");
    net_layer_spec_init(&s[k++], NET_GLOBAL_AVGPOOL, "gap");
    net_layer_spec_init(&s[k++], NET_FLATTEN, "flat");
    net_layer_spec_init(&s[k++], NET_LINEAR, "fc");
    s[k - 1].out_channels = FX_K;
    net_layer_spec_init(&s[k++], NET_SOFTMAX, "probs");
    *n = k;
}

static int write_model(const char *path, uint64_t seed)
{
    struct net_layer_spec s[16];
    int n;
    fx_specs(s, &n);
    struct model m;
    model_init(&m);
    int rc = model_build(&m, s, n, 8, 0);
    if (!rc) {
        init_net(m.net, seed, INIT_PYTORCH);
        for (int c = 0; c < FX_C; c++)
            m.mean[c] = 0.5, m.std[c] = 0.25;
        for (int k = 0; k < FX_K; k++)
            snprintf(m.class_names[k], MODEL_CLASS_NAME_MAX, "c%d", k);
        rc = model_save(&m, path, "fixture", "{\"seed\":1}", NULL, 0);
    }
    model_release(&m);
    return rc;
}

/* maps[T, HW] of method `name` on the model at model_path; json receives its parameters. */
static int compute_maps(const char *model_path, const char *name, float *maps, char *json,
                        size_t jsize)
{
    struct model m;
    model_init(&m);
    if (model_load(&m, model_path, 8, 0)) return -1;
    static float x[FX_N * FX_C * FX_HW];
    preprocess_forward(x, &D.img[0][0], m.mean, m.std, FX_N, FX_S, FX_S, FX_C);
    struct saliency_params p;
    saliency_params_init(&p, (enum saliency_method)saliency_method_from_name(name));
    size_t nw = 0;
    int cls[FX_MAXT], rc = saliency_params_resolve(&p, m.net) ||
                          saliency_workspace_floats(m.net, &p, 1, &nw);
    for (int t = 0; t < D.n_trials; t++)
        cls[t] = D.trials[t].class_id;
    float black[FX_C] = {-2, -2, -2};
    struct saliency_input in = {FX_N, x, D.ids, D.n_trials, D.trial_ex, cls, black};
    float *work = rc ? NULL : aligned_alloc(64, (nw * sizeof(float) + 63) / 64 * 64);
    rc = rc || !work || saliency_compute(maps, m.net, &p, &in, work, 1, NULL);
    saliency_params_json(&p, json, jsize);
    free(work);
    model_release(&m);
    return rc ? -1 : 0;
}

struct fx_maps {
    const char *name;
    const float *data;
    const char *params; /* JSON or NULL */
    int H, W;
};

static int write_saliency(const char *path, const char *model, const char *examples,
                          const struct fx_trial_row *trials, int T, const struct fx_maps *m,
                          int nm)
{
    struct h5table_file *f = h5table_create(path);
    struct h5table_input in[2] = {{"model", model, NULL}, {"examples", examples, NULL}};
    int rc = !f || h5table_write_table(f, "trials", &tr_schema, trials, (size_t)T);
    for (int i = 0; i < nm && !rc; i++) {
        char name[64];
        uint64_t dims[3] = {(uint64_t)T, (uint64_t)m[i].H, (uint64_t)m[i].W};
        snprintf(name, sizeof name, "maps/%s", m[i].name);
        rc = h5table_write_array(f, name, H5TABLE_F32, 3, dims, m[i].data) ||
             (m[i].params && h5table_attr_set_str(f, name, "params", m[i].params));
    }
    rc = rc || h5table_write_provenance(f, "attribute", "{\"fixture\":true}", in, 2);
    if (rc) {
        h5table_abort(f);
        return -1;
    }
    return h5table_commit(f);
}

static char *pj(const char *dir, const char *name)
{
    static char bufs[8][512];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

static int write_all(const char *dir)
{
    static float grad[FX_MAXT * FX_HW], center[FX_MAXT * FX_HW], oracle[FX_MAXT * FX_HW];
    static float konst[FX_MAXT * FX_HW], small[FX_MAXT * 32 * 32];
    char gjson[2048], cjson[2048];
    int T = D.n_trials;
    mkdir(dir, 0755);
    char model[512], ex[512], other[512], exn[512];
    snprintf(model, sizeof model, "%s/model.h5", dir);
    snprintf(ex, sizeof ex, "%s/examples.h5", dir);
    snprintf(other, sizeof other, "%s/other.h5", dir);
    snprintf(exn, sizeof exn, "%s/examples_nomask.h5", dir);
    if (write_model(model, 1) || write_model(other, 2) || write_examples(ex, 1) ||
        write_examples(exn, 0) ||
        compute_maps(model, "gradient", grad, gjson, sizeof gjson) ||
        compute_maps(model, "center", center, cjson, sizeof cjson))
        return -1;
    for (int t = 0; t < T; t++)
        for (int p = 0; p < FX_HW; p++) {
            float v = 0;
            for (int i = 0; i < D.n_obj; i++)
                if (D.obj[i].example_id == D.trials[t].example_id &&
                    D.obj[i].class_id == D.trials[t].class_id)
                    v = D.masks[i][p] ? 1.0f : v;
            oracle[t * FX_HW + p] = v, konst[t * FX_HW + p] = 1;
        }
    struct fx_maps good[4] = {{"center", center, cjson, FX_S, FX_S},
                              {"constant", konst, NULL, FX_S, FX_S},
                              {"gradient", grad, gjson, FX_S, FX_S},
                              {"oracle", oracle, NULL, FX_S, FX_S}};
    struct fx_trial_row bad[FX_MAXT], uns[FX_MAXT], brow[FX_MAXT];
    memcpy(bad, D.trials, sizeof bad), memcpy(uns, D.trials, sizeof uns);
    memcpy(brow, D.trials, sizeof brow);
    brow[2].row += 1; /* a row that is not the example's */
    bad[T - 1].example_id ^= 1; /* not an example (unless a 1-in-2^64 collision) */
    uns[0] = D.trials[T - 1], uns[T - 1] = D.trials[0];
    struct fx_maps shape = {"gradient", small, NULL, 32, 32};
    if (write_saliency(pj(dir, "sal.h5"), model, ex, D.trials, T, good, 4) ||
        write_saliency(pj(dir, "sal_other.h5"), other, ex, D.trials, T, good, 4) ||
        write_saliency(pj(dir, "sal_badid.h5"), model, ex, bad, T, good, 4) ||
        write_saliency(pj(dir, "sal_unsorted.h5"), model, ex, uns, T, good, 4) ||
        write_saliency(pj(dir, "sal_badrow.h5"), model, ex, brow, T, good, 4) ||
        write_saliency(pj(dir, "sal_shape.h5"), model, ex, D.trials, T, &shape, 1) ||
        write_saliency(pj(dir, "sal_nomask.h5"), model, exn, D.trials, T, good, 4))
        return -1;
    grad[3 * FX_HW + 17] = NAN;
    return write_saliency(pj(dir, "sal_nan.h5"), model, ex, D.trials, T, &good[2], 1);
}

/* ---- checks of score_data on the fixture ---------------------------------------------------- */

static int open_with(const char *dir, const char *sal, const char *ex, const char *model)
{
    struct model m;
    struct score_data d;
    uint64_t h = 0;
    model_init(&m);
    score_data_init(&d);
    char mp[512], ep[512], sp[512];
    snprintf(mp, sizeof mp, "%s/%s", dir, model);
    snprintf(ep, sizeof ep, "%s/%s", dir, ex);
    snprintf(sp, sizeof sp, "%s/%s", dir, sal);
    int rc = model_load(&m, mp, 4, NET_NO_GRAD) || h5table_content_hash_path(mp, &h) ||
             score_data_open(&d, ep, sp, mp, h, m.n_classes,
                             (const char(*)[64])m.class_names, m.channels, m.height, m.width,
                             NULL);
    if (!rc && strcmp(sal, "sal.h5") == 0)
        rc = !(d.T == (size_t)D.n_trials && d.n_methods == 4 && d.n_obj == (size_t)D.n_obj &&
               d.n_masked == (size_t)D.n_obj && d.trow[D.n_trials - 1] == FX_N - 1);
    score_data_release(&d);
    model_release(&m);
    return rc;
}

static void check_data(const char *dir)
{
    CHECK(open_with(dir, "sal.h5", "examples.h5", "model.h5") == 0, "score_data_open_good", "%s",
          err_msg());
    int rc = open_with(dir, "sal_other.h5", "examples.h5", "model.h5");
    CHECK(rc && strstr(err_msg(), "other.h5") && strstr(err_msg(), "content hash"),
          "score_data_other_model_error", "%s", err_msg());
    rc = open_with(dir, "sal.h5", "examples.h5", "other.h5");
    CHECK(rc && strstr(err_msg(), "model"), "score_data_wrong_model_arg_error", "%s", err_msg());
    rc = open_with(dir, "sal_badid.h5", "examples.h5", "model.h5");
    CHECK(rc && strstr(err_msg(), "not in"), "score_data_unknown_id_error", "%s", err_msg());
    rc = open_with(dir, "sal_unsorted.h5", "examples.h5", "model.h5");
    CHECK(rc && strstr(err_msg(), "order"), "score_data_unsorted_error", "%s", err_msg());
    rc = open_with(dir, "sal_badrow.h5", "examples.h5", "model.h5");
    CHECK(rc && strstr(err_msg(), "misaligned"), "score_data_misaligned_row_error", "%s",
          err_msg());
    rc = open_with(dir, "sal_shape.h5", "examples.h5", "model.h5");
    CHECK(rc && strstr(err_msg(), "map per trial"), "score_data_shape_error", "%s", err_msg());
    rc = open_with(dir, "sal_nomask.h5", "examples.h5", "model.h5");
    CHECK(rc && strstr(err_msg(), "examples"), "score_data_other_examples_error", "%s",
          err_msg());
    CHECK(open_with(dir, "sal_nomask.h5", "examples_nomask.h5", "model.h5") == 0,
          "score_data_open_nomask", "%s", err_msg());
}

int main(int argc, char **argv)
{
    build_data();
    if (argc == 2) {
        if (write_all(argv[1])) {
            fprintf(stderr, "test_score_fixture: %s\n", err_msg());
            return 1;
        }
        return 0;
    }
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/score_fixture_%d", (int)getpid());
    int ok = write_all(dir) == 0;
    CHECK(ok, "score_fixture_write", "%s", err_msg());
    if (ok) check_data(dir);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
    return check_summary();
}
