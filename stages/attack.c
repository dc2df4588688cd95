/* attack: makes the examples of an attack chain. Reads examples.h5 and a model, writes an
 * examples.h5 of the same schema and example_ids (tables and arrays of the shard copied byte for
 * byte) whose `images` are attacked (FGSM, PGD) or corrupted (noise, blur, JPEG), plus a
 * `perturbation` table (norms, predictions before and after, success) and the attack's
 * parameters in root attributes. example_id stays the benign example's id on purpose, so every
 * later table joins with the benign chain row by row; the attacked pixels no longer hash to it.
 * Kernels: pipeline/attack.h. Copies: formats/h5copy.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/exampleset.h"
#include "formats/h5copy.h"
#include "formats/h5table.h"
#include "formats/model.h"
#include "pipeline/attack.h"
#include "pipeline/classify.h"
#include "pipeline/err.h"
#include "pipeline/net.h"
#include "stages/common.h"

static const char *const attack_usage[] = {
    "attack --model FILE --examples FILE --out FILE --attack fgsm|pgd|noise|blur|jpeg "
    "[options]",
    "  --model FILE        model file (the one the chain is evaluated with)",
    "  --examples FILE     examples.h5 from bin/load",
    "  --out FILE          attacked examples.h5 to write (replaced atomically)",
    "  --attack KIND       fgsm, pgd (L-inf, untargeted unless --targeted/--target-next),",
    "                      noise, blur, jpeg (corruptions)",
    "  --eps E             fgsm/pgd: L-inf radius on the 0..1 pixel range, e.g. 8/255 (default)",
    "  --step S            pgd: step size (default 2/255)",
    "  --iters N           pgd: iterations (default 10; 0 = the start point)",
    "  --random-start      pgd: start uniformly in the eps ball",
    "  --targeted CLASS    fgsm/pgd: move every example towards class CLASS (0..K-1)",
    "  --target-next       fgsm/pgd: target (label + 1) mod K (the prediction when unlabelled)",
    "  --sigma S           noise: std on the 0..1 range (default 8/255); blur: std in pixels",
    "                      (default 1, at most 16)",
    "  --quality Q         jpeg: quality 1..100 (default 50)",
    "  --seed S            seed of the random start and the noise (default 0)",
    "  --batch N           examples per pass (default 32; results do not depend on it)",
    "  --shard K/N         only shard K of N (a contiguous example_id range)",
    NULL};

struct pert_row {
    uint64_t example_id;
    int32_t label, target, benign_pred, attacked_pred;
    int8_t success;
    int32_t linf_levels;
    float linf, l2, loss_benign, loss_attacked;
};

#define PT(f, t) H5TABLE_COLUMN(struct pert_row, f, t)
static const struct h5table_column pert_cols[] = {
    PT(example_id, H5TABLE_U64),    PT(label, H5TABLE_I32),         PT(target, H5TABLE_I32),
    PT(benign_pred, H5TABLE_I32),   PT(attacked_pred, H5TABLE_I32), PT(success, H5TABLE_I8),
    PT(linf_levels, H5TABLE_I32),   PT(linf, H5TABLE_F32),          PT(l2, H5TABLE_F32),
    PT(loss_benign, H5TABLE_F32),   PT(loss_attacked, H5TABLE_F32)};
#undef PT
static const struct h5table_schema pert_schema = {"perturbation", sizeof(struct pert_row), 11,
                                                  pert_cols};

struct attack {
    const char *model_path, *examples_path, *out, *kind_name, *eps_s, *step_s, *sigma_s;
    long long iters, targeted, quality, seed, batch;
    int random_start, target_next;
    struct cli_shard shard;
    struct attack_params p;
    struct model m;
    struct attack_model am;
    struct exampleset ex;
    size_t begin, end;
    struct pert_row *rows;
};

/* ---- options ------------------------------------------------------------------------------ */

/* "A" or "A/B" as a number in [0, max]. */
static double attack_fraction(const char *opt, const char *s, double max)
{
    char *end;
    double v = strtod(s, &end);
    if (end != s && *end == '/') {
        const char *d = end + 1;
        double den = strtod(d, &end);
        v = den > 0 && end != d ? v / den : NAN;
    }
    if (end == s || *end || !isfinite(v) || v < 0 || v > max)
        cli_usage_error("cannot use '--%s %s': expected a number or a fraction like 8/255 in "
                        "[0, %g]", opt, s, max);
    return v;
}

/* Fills the defaults of the chosen kind and refuses options it does not use. */
static void attack_options(struct attack *A)
{
    int k = attack_kind_from_name(A->kind_name);
    if (k < 0) cli_usage_error("cannot use '--attack %s': fgsm, pgd, noise, blur or jpeg",
                               A->kind_name);
    A->p.kind = (enum attack_kind)k;
    int adv = attack_kind_is_adversarial(A->p.kind), pgd = A->p.kind == ATTACK_PGD;
    const char *stray = !adv && (A->eps_s || A->targeted >= 0 || A->target_next)
                            ? "--eps/--targeted/--target-next"
                        : !pgd && (A->step_s || A->iters >= 0 || A->random_start)
                            ? "--step/--iters/--random-start"
                        : (k != ATTACK_NOISE && k != ATTACK_BLUR) && A->sigma_s ? "--sigma"
                        : k != ATTACK_JPEG && A->quality >= 0 ? "--quality"
                        : !adv && k != ATTACK_NOISE && A->seed ? "--seed" : NULL;
    if (stray) cli_usage_error("cannot use %s with --attack %s", stray, A->kind_name);
    if (A->targeted >= 0 && A->target_next)
        cli_usage_error("--targeted and --target-next exclude each other");
    if (adv && !A->eps_s) A->eps_s = "8/255";
    if (pgd && !A->step_s) A->step_s = "2/255";
    if (pgd && A->iters < 0) A->iters = 10;
    if (k == ATTACK_NOISE && !A->sigma_s) A->sigma_s = "8/255";
    if (k == ATTACK_BLUR && !A->sigma_s) A->sigma_s = "1";
    if (k == ATTACK_JPEG && A->quality < 0) A->quality = 50;
    A->p.eps = adv ? (float)attack_fraction("eps", A->eps_s, 1) : 0.0f;
    A->p.step = pgd ? (float)attack_fraction("step", A->step_s, 1) : 0.0f;
    A->p.iters = pgd ? (int)A->iters : adv;
    A->p.random_start = A->random_start;
    A->p.targeted = A->targeted >= 0 || A->target_next;
    A->p.seed = (uint64_t)A->seed;
    A->p.sigma = A->sigma_s ? attack_fraction("sigma", A->sigma_s, k == ATTACK_BLUR ? 16 : 1) : 0;
    if (k == ATTACK_BLUR && A->p.sigma <= 0) cli_usage_error("--sigma must be > 0 for blur");
    A->p.quality = (int)A->quality;
}

static void attack_check_inputs(struct attack *A)
{
    const struct model *m = &A->m;
    const struct exampleset *e = &A->ex;
    if (exampleset_check_model(e, m, A->model_path)) cli_fail();
    if (A->p.kind == ATTACK_JPEG && e->C != 1 && e->C != 3)
        cli_die("cannot use examples '%s': jpeg needs 1 or 3 channels, not %d", A->examples_path,
                e->C);
    if (A->targeted >= e->K)
        cli_usage_error("cannot use '--targeted %lld': the model has classes 0..%d", A->targeted,
                        e->K - 1);
}

/* ---- the attack loop ---------------------------------------------------------------------- */

/* Loss targets of rows [r0, r0+n): cls[i] (single-label) or hot[i,:] (multi-label), from the
 * labels, the benign predictions pred and the targeting options; target[i] is -1 untargeted. */
static void attack_targets(const struct attack *A, size_t r0, int n, const int32_t *pred,
                           const float *probs, int32_t *cls, float *hot, int32_t *target)
{
    const int K = A->am.K;
    for (int i = 0; i < n; i++) {
        size_t r = r0 + (size_t)i;
        int32_t y = A->ex.label[r] >= 0 ? A->ex.label[r] : pred[i];
        target[i] = A->targeted >= 0 ? (int32_t)A->targeted : A->target_next ? (y + 1) % K : -1;
        cls[i] = target[i] >= 0 ? target[i] : y;
        float *h = hot + (size_t)i * K;
        int any = 0;
        for (int k = 0; k < K; k++) {
            h[k] = target[i] >= 0 ? (float)(k == target[i])
                   : A->ex.n_labels[r] > 0 ? (float)A->ex.multi_hot[r * K + k]
                                           : (float)(probs[(size_t)i * K + k] >= 0.5f);
            any |= h[k] != 0.0f;
        }
        if (!any) h[pred[i]] = 1.0f; /* unlabelled, nothing above 0.5: the top class */
    }
}

struct attack_buf {
    uint8_t *img, *adv;
    float *unit, *xin, *logits, *probs, *hot, *loss0, *loss1, *scratch;
    int32_t *pred0, *pred1, *cls, *target;
};

static int attack_batch_rows(struct attack *A, size_t at, int n, struct attack_buf *b,
                             struct h5copy_out *images)
{
    const struct attack_model *am = &A->am;
    const size_t n1 = (size_t)am->H * am->W * am->C, r0 = A->begin + at;
    const int dims[3] = {am->H, am->W, am->C};
    if (exampleset_read_images(&A->ex, r0, (size_t)n, b->img)) return -1;
    attack_to_unit(b->unit, b->img, (size_t)n * n1);
    if (attack_loss(NULL, b->logits, b->xin, am, b->unit, NULL, NULL, n)) return -1;
    classify_argmax(b->pred0, b->logits, (size_t)n, am->K);
    classify_probs(b->probs, b->logits, (size_t)n, am->K, am->multi_label);
    attack_targets(A, r0, n, b->pred0, b->probs, b->cls, b->hot, b->target);
    attack_logits_loss(b->loss0, am, b->logits, b->cls, b->hot, n);
    if (attack_batch(b->adv, &A->p, am, dims, b->img, A->ex.ids + r0, b->cls, b->hot, n,
                     b->scratch))
        return -1;
    attack_to_unit(b->unit, b->adv, (size_t)n * n1);
    if (attack_loss(b->loss1, b->logits, b->xin, am, b->unit, b->cls, b->hot, n)) return -1;
    classify_argmax(b->pred1, b->logits, (size_t)n, am->K);
    for (int i = 0; i < n; i++) {
        struct pert_row *row = &A->rows[at + (size_t)i];
        double l2;
        memset(row, 0, sizeof *row);
        row->example_id = A->ex.ids[r0 + (size_t)i];
        row->label = A->ex.label[r0 + (size_t)i];
        row->target = b->target[i];
        row->benign_pred = b->pred0[i];
        row->attacked_pred = b->pred1[i];
        row->success = (int8_t)(b->target[i] >= 0 ? b->pred1[i] == b->target[i]
                                                  : b->pred1[i] != b->pred0[i]);
        attack_norms(&row->linf_levels, &l2, b->adv + i * n1, b->img + i * n1, n1);
        row->linf = (float)row->linf_levels / 255.0f;
        row->l2 = (float)l2;
        row->loss_benign = b->loss0[i];
        row->loss_attacked = b->loss1[i];
    }
    return h5copy_append(images, b->adv, (size_t)n);
}

/* Streams the attacked shard into `images` (created like the input's). */
static int attack_images(struct attack *A, struct h5table_file *out, struct h5table_file *in)
{
    const int B = (int)A->batch, K = A->am.K;
    const size_t n1 = (size_t)A->am.H * A->am.W * A->am.C, N = A->end - A->begin;
    const int dims[3] = {A->am.H, A->am.W, A->am.C};
    struct attack_buf b = {
        xmalloc((size_t)B * n1), xmalloc((size_t)B * n1), xmalloc((size_t)B * n1 * 4),
        xmalloc((size_t)B * n1 * 4), xmalloc((size_t)B * K * 4), xmalloc((size_t)B * K * 4),
        xmalloc((size_t)B * K * 4), xmalloc((size_t)B * 4), xmalloc((size_t)B * 4),
        xmalloc(attack_scratch_floats(&A->p, dims, K, B) * sizeof(float)),
        xmalloc((size_t)B * 4), xmalloc((size_t)B * 4), xmalloc((size_t)B * 4),
        xmalloc((size_t)B * 4)};
    struct h5copy_out *o = h5copy_create_like(out, in, "images", N);
    int rc = o ? 0 : -1;
    struct cli_progress pr;
    cli_progress_start(&pr, A->kind_name, N);
    for (size_t at = 0; rc == 0 && at < N; at += (size_t)B) {
        int n = N - at < (size_t)B ? (int)(N - at) : B;
        rc = attack_batch_rows(A, at, n, &b, o);
        cli_progress_update(&pr, at + (size_t)n);
    }
    cli_progress_finish(&pr);
    if (h5copy_close(o)) rc = -1;
    void *all[] = {b.img, b.adv, b.unit, b.xin, b.logits, b.probs, b.hot, b.loss0, b.loss1,
                   b.scratch, b.pred0, b.pred1, b.cls, b.target};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        free(all[i]);
    return rc;
}

/* ---- copying the other datasets ----------------------------------------------------------- */

/* Rows [*b, *e) of keyed dataset d whose example_id lies in [lo, hi] (d is sorted by id). */
static int attack_keyed_range(struct h5table_file *f, const struct h5copy_dataset *d,
                              uint64_t lo, uint64_t hi, uint64_t *b, uint64_t *e)
{
    const size_t per = (1u << 20) / d->row_bytes + 1;
    unsigned char *buf = xmalloc(per * d->row_bytes);
    *b = *e = 0;
    int rc = 0, begun = 0;
    for (uint64_t r = 0; rc == 0 && r < d->dims[0]; r += per) {
        size_t m = d->dims[0] - r < per ? (size_t)(d->dims[0] - r) : per;
        rc = h5copy_read_rows(f, d->name, r, m, buf);
        for (size_t j = 0; rc == 0 && j < m; j++) {
            uint64_t id;
            memcpy(&id, buf + j * d->row_bytes + d->key_offset, sizeof id);
            if (!begun && id >= lo) *b = r + j, begun = 1;
            if (id <= hi) *e = r + j + 1;
        }
    }
    if (!begun) *b = *e = d->dims[0];
    if (*e < *b) *e = *b;
    free(buf);
    return rc;
}

/* Copies rows [b, e) of dataset `name` (all of it: b = 0, e = rows), attributes first. */
static int attack_copy(struct h5table_file *out, struct h5table_file *in,
                       const struct h5copy_dataset *d, uint64_t b, uint64_t e)
{
    struct h5copy_out *o = h5copy_create_like(out, in, d->name, e - b);
    char **names = NULL;
    size_t n = 0;
    int rc = !o || h5copy_attr_names(in, d->name, &names, &n) ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = h5copy_attr_copy(out, d->name, in, d->name, names[i]);
    h5table_list_free(names, n);
    const size_t per = (8u << 20) / d->row_bytes + 1;
    unsigned char *buf = xmalloc(per * d->row_bytes);
    for (uint64_t r = b; rc == 0 && r < e; r += per) {
        size_t m = e - r < per ? (size_t)(e - r) : per;
        rc = h5copy_read_rows(in, d->name, r, m, buf) || h5copy_append(o, buf, m) ? -1 : 0;
    }
    free(buf);
    if (h5copy_close(o)) rc = -1;
    return rc;
}

/* Every dataset of the input in its creation order: `images` attacked, keyed tables and the
 * arrays aligned with them (masks with objects, others with examples) cut to the shard, the
 * rest (classes) whole. An input's own `perturbation` table (it was attacked before) is left
 * out: the new one replaces it, and the provenance names the attacked input. */
static int attack_datasets(struct attack *A, struct h5table_file *out)
{
    struct h5table_file *in = A->ex.file;
    struct h5copy_dataset *ds = NULL;
    size_t nds = 0, N = A->end - A->begin;
    if (h5copy_list(in, &ds, &nds)) return -1;
    uint64_t lo = N ? A->ex.ids[A->begin] : 1, hi = N ? A->ex.ids[A->end - 1] : 0;
    uint64_t ob = 0, oe = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nds; i++)
        if (strcmp(ds[i].name, "objects") == 0 && ds[i].keyed)
            rc = attack_keyed_range(in, &ds[i], lo, hi, &ob, &oe);
    for (size_t i = 0; rc == 0 && i < nds; i++) {
        const struct h5copy_dataset *d = &ds[i];
        uint64_t b = 0, e = d->rank ? d->dims[0] : 1;
        if (strcmp(d->name, "images") == 0) {
            rc = attack_images(A, out, in);
            continue;
        }
        if (strcmp(d->name, "perturbation") == 0) continue; /* attacking an attacked file */
        if (d->keyed) rc = attack_keyed_range(in, d, lo, hi, &b, &e);
        else if (strcmp(d->name, "masks") == 0) b = ob, e = oe;
        else if (!d->compound && d->rank > 0 && d->dims[0] == A->ex.n) b = A->begin, e = A->end;
        rc = rc || attack_copy(out, in, d, b, e);
    }
    h5copy_list_free(ds, nds);
    return rc;
}

static int attack_attrs(struct attack *A, struct h5table_file *f)
{
    const struct attack_params *p = &A->p;
    const char *mode = !attack_kind_is_adversarial(p->kind) ? "corruption"
                       : A->target_next ? "targeted-next"
                       : p->targeted    ? "targeted"
                                        : "untargeted";
    return h5table_attr_set_str(f, "/", "attack", attack_kind_name(p->kind)) ||
                   h5table_attr_set_str(f, "/", "attack_mode", mode) ||
                   h5table_attr_set_f64(f, "/", "attack_eps", p->eps) ||
                   h5table_attr_set_i64(f, "/", "attack_eps_levels", attack_eps_levels(p->eps)) ||
                   h5table_attr_set_f64(f, "/", "attack_step", p->step) ||
                   h5table_attr_set_i64(f, "/", "attack_iters", p->iters) ||
                   h5table_attr_set_f64(f, "/", "attack_sigma", p->sigma) ||
                   h5table_attr_set_i64(f, "/", "attack_quality", p->quality) ||
                   h5table_attr_set_str(f, "/", "pixel_space",
                                        "x = uint8 / 255 in [0, 1]; eps, step and noise sigma "
                                        "on that range; output rounded to uint8") ||
                   h5table_attr_set_str(f, "/", "example_id_note",
                                        "example_id is the benign example's id, kept so rows "
                                        "join with the benign chain; the attacked pixels do "
                                        "not hash to it")
               ? -1
               : 0;
}

/* load's description of the data (source format, boxes clipped or dropped) holds for the
 * attacked copy too: carried over when the input has it. */
static int attack_data_attrs(struct attack *A, struct h5table_file *out)
{
    static const char *const names[] = {"source_format", "boxes_clipped", "boxes_empty"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        int has = h5table_attr_exists(A->ex.file, "/", names[i]);
        if (has < 0 || (has && h5copy_attr_copy(out, "/", A->ex.file, "/", names[i]))) return -1;
    }
    return 0;
}

static int attack_write(struct attack *A)
{
    struct h5table_file *f = h5table_create(A->out);
    if (!f) return -1;
    char *params = cli_params_json();
    const struct h5table_input in[2] = {{"model", A->model_path, NULL},
                                        {"examples", A->examples_path, NULL}};
    size_t N = A->end - A->begin;
    A->rows = xcalloc(N ? N : 1, sizeof *A->rows);
    int rc = attack_datasets(A, f) ||
             h5table_write_table(f, "perturbation", &pert_schema, A->rows, N) ||
             h5table_write_provenance(f, "attack", params, in, 2) ||
             attack_data_attrs(A, f) || attack_attrs(A, f);
    free(params);
    if (rc) {
        h5table_abort(f);
        return -1;
    }
    return h5table_commit(f);
}

int main(int argc, char **argv)
{
    struct attack A;
    memset(&A, 0, sizeof A);
    A.iters = A.targeted = A.quality = -1;
    A.batch = 32;
    const struct cli_option opts[] = {
        CLI_OPT("model", CLI_STRING, &A.model_path),
        CLI_OPT("examples", CLI_STRING, &A.examples_path),
        CLI_OUTPUT("out", &A.out),
        CLI_OPT("attack", CLI_STRING, &A.kind_name),
        CLI_OPT("eps", CLI_STRING, &A.eps_s),
        CLI_OPT("step", CLI_STRING, &A.step_s),
        CLI_RANGE("iters", CLI_INT, &A.iters, 0, 100000),
        CLI_OPT("random-start", CLI_FLAG, &A.random_start),
        CLI_RANGE("targeted", CLI_INT, &A.targeted, 0, 1e6),
        CLI_OPT("target-next", CLI_FLAG, &A.target_next),
        CLI_OPT("sigma", CLI_STRING, &A.sigma_s),
        CLI_RANGE("quality", CLI_INT, &A.quality, 1, 100),
        CLI_RANGE("seed", CLI_INT, &A.seed, 0, 9.007199254740992e15),
        CLI_RANGE("batch", CLI_INT, &A.batch, 1, 4096),
        CLI_OPT("shard", CLI_SHARD, &A.shard),
        CLI_END};
    cli_init("attack", attack_usage);
    if (cli_parse(opts, argc, argv) != argc) cli_usage_error("unexpected argument");
    cli_set_output(A.out);
    if (!A.model_path || !A.examples_path || !A.out || !A.kind_name)
        cli_usage_error("--model, --examples, --out and --attack are required");
    attack_options(&A);
    model_init(&A.m);
    exampleset_init(&A.ex);
    unsigned flags = attack_kind_is_adversarial(A.p.kind) ? 0 : NET_NO_GRAD;
    if (model_load(&A.m, A.model_path, (int)A.batch, flags)) cli_fail();
    if (exampleset_open(&A.ex, A.examples_path)) cli_fail();
    attack_check_inputs(&A);
    A.am = (struct attack_model){A.m.net, A.m.mean, A.m.std, A.m.height, A.m.width,
                                 A.m.channels, A.m.n_classes, A.m.activation == MODEL_SIGMOID};
    cli_shard_range(&A.shard, A.ex.ids, A.ex.n, &A.begin, &A.end);
    if (attack_write(&A)) cli_fail();
    free(A.rows);
    exampleset_release(&A.ex);
    model_release(&A.m);
    return cli_exit(0);
}
