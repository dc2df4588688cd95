/* Layer kernels: optimised conv against its naive twin, 1- vs 2-thread bitwise equality, known
 * answers (pool windows, ReLU rules, dropout masks), and a central finite-difference check of
 * every backward (inputs and parameters).
 *
 * Finite differences: the loss is L = sum_i r_i * out_i with fixed random r, evaluated in double
 * from the float forward; x_i is moved to the floats x+eps and x-eps and the slope uses their
 * exact double difference. Layers linear in the perturbed variable (conv, linear, pools, add,
 * concat, dropout, BN eval) have no truncation error, so a large eps (0.25) keeps the float
 * rounding of the forward (~1e-7 relative per output, ~1e-5 on L) below 1e-4 in the slope: tol
 * 1e-3 * max(1, |g|). Non-linear ones (BN train, sigmoid, softmax, ReLU away from 0) use eps
 * 1e-2, truncation O(eps^2 * f''') ~ 1e-4 plus rounding ~1e-3: tol 3e-3 * max(1, |g|). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/activation.h"
#include "pipeline/batchnorm.h"
#include "pipeline/conv.h"
#include "pipeline/gemm.h"
#include "pipeline/linear.h"
#include "pipeline/pool.h"
#include "pipeline/rng.h"
#include "tests/check.h"

static uint64_t key_counter = 100;

static float *randv(size_t n, float lo, float hi)
{
    float *v = aligned_alloc(64, sizeof(float) * ((n + 15) / 16 * 16 + 16));
    struct rng r;
    rng_init(&r, 11, key_counter++, RNG_NOISE);
    for (size_t i = 0; i < n; i++)
        v[i] = lo + (hi - lo) * rng_uniform(&r);
    return v;
}

static float *zerov(size_t n)
{
    float *v = randv(n, 0, 0);
    memset(v, 0, sizeof(float) * n);
    return v;
}

/* ---- generic finite-difference harness ------------------------------------------------ */

#define FD_MAX_VARS 6
struct fd_case {
    const char *name;
    void (*forward)(struct fd_case *c);
    void (*backward)(struct fd_case *c); /* dout -> += into dx[] */
    int nvars;
    const char *vname[FD_MAX_VARS];
    float *x[FD_MAX_VARS], *dx[FD_MAX_VARS];
    size_t nx[FD_MAX_VARS];
    float *out, *dout;
    size_t nout;
    double eps, tol;
    const void *dims;
    int ival; /* layer-specific */
};

static double fd_loss(struct fd_case *c)
{
    c->forward(c);
    double s = 0;
    for (size_t i = 0; i < c->nout; i++)
        s += (double)c->dout[i] * c->out[i];
    return s;
}

static void fd_run(struct fd_case *c)
{
    for (int v = 0; v < c->nvars; v++)
        memset(c->dx[v], 0, sizeof(float) * c->nx[v]);
    c->forward(c);
    c->backward(c);
    for (int v = 0; v < c->nvars; v++) {
        size_t bad = 0, worst = 0;
        double maxerr = 0, wnum = 0;
        for (size_t i = 0; i < c->nx[v]; i++) {
            float x0 = c->x[v][i], xp = x0 + (float)c->eps, xm = x0 - (float)c->eps;
            c->x[v][i] = xp;
            double lp = fd_loss(c);
            c->x[v][i] = xm;
            double lm = fd_loss(c);
            c->x[v][i] = x0;
            double num = (lp - lm) / ((double)xp - (double)xm), ana = c->dx[v][i];
            double err = fabs(num - ana) / fmax(1.0, fabs(ana));
            if (!(err <= c->tol)) bad++;
            if (err > maxerr || err != err) maxerr = err, worst = i, wnum = num;
        }
        char name[160];
        snprintf(name, sizeof name, "layers_fd_%s_%s", c->name, c->vname[v]);
        CHECK(bad == 0, name, "%zu of %zu off; worst [%zu] analytic %.7g numeric %.7g (rel %.2g)",
              bad, c->nx[v], worst, (double)c->dx[v][worst], wnum, maxerr);
    }
    c->forward(c); /* leave out consistent with x */
}

static void fd_alloc(struct fd_case *c, int v, const char *name, size_t n, float lo, float hi)
{
    c->vname[v] = name;
    c->x[v] = randv(n, lo, hi);
    c->dx[v] = zerov(n);
    c->nx[v] = n;
    if (v >= c->nvars) c->nvars = v + 1;
}

static void fd_out(struct fd_case *c, size_t n)
{
    c->out = zerov(n);
    c->dout = randv(n, -1, 1);
    c->nout = n;
}

static void fd_free(struct fd_case *c)
{
    for (int v = 0; v < c->nvars; v++)
        free(c->x[v]), free(c->dx[v]);
    free(c->out), free(c->dout);
}

/* ---- conv ----------------------------------------------------------------------------- */

static float *conv_scratch(const struct conv2d_dims *d, int nt)
{
    return aligned_alloc(64, sizeof(float) * conv2d_scratch_floats(d, nt));
}

static void conv_fwd(struct fd_case *c)
{
    const struct conv2d_dims *d = c->dims;
    float *s = conv_scratch(d, 1);
    conv2d_forward(c->out, c->x[0], c->x[1], c->ival ? c->x[2] : NULL, d, s, 1);
    free(s);
}

static void conv_bwd(struct fd_case *c)
{
    const struct conv2d_dims *d = c->dims;
    float *s = conv_scratch(d, 1);
    conv2d_backward(c->dx[0], c->dx[1], c->ival ? c->dx[2] : NULL, c->dout, c->x[0], c->x[1], d,
                    s, 1);
    free(s);
}

/* Optimised vs naive forward and backward, and 1 vs 2 threads bitwise, for one shape. */
static void conv_compare(const char *tag, int N, int C, int H, int W, int O, int K, int S, int P,
                         int G, int bias)
{
    struct conv2d_dims d;
    if (conv2d_dims_init(&d, N, C, H, W, O, K, K, S, S, P, P, G) < 0) {
        CHECK(0, "layers_conv_dims", "%s", tag);
        return;
    }
    size_t ni = (size_t)N * C * H * W, nw = (size_t)O * (C / G) * K * K;
    size_t no = (size_t)N * O * d.OH * d.OW;
    float *x = randv(ni, -1, 1), *w = randv(nw, -1, 1), *b = bias ? randv(O, -1, 1) : NULL;
    float *dy = randv(no, -1, 1);
    float *y1 = zerov(no), *y2 = zerov(no), *yr = zerov(no);
    float *dx1 = randv(ni, -1, 1), *dx2 = zerov(ni), *dxr = zerov(ni);
    float *dw1 = randv(nw, -1, 1), *dw2 = zerov(nw), *dwr = zerov(nw);
    float *db1 = randv(O, -1, 1), *db2 = zerov(O), *dbr = zerov(O);
    memcpy(dx2, dx1, sizeof(float) * ni), memcpy(dxr, dx1, sizeof(float) * ni);
    memcpy(dw2, dw1, sizeof(float) * nw), memcpy(dwr, dw1, sizeof(float) * nw);
    memcpy(db2, db1, sizeof(float) * O), memcpy(dbr, db1, sizeof(float) * O);
    float *s1 = conv_scratch(&d, 1), *s2 = conv_scratch(&d, 2);
    conv2d_forward(y1, x, w, b, &d, s1, 1);
    conv2d_forward(y2, x, w, b, &d, s2, 2);
    conv2d_forward_naive(yr, x, w, b, &d);
    conv2d_backward(dx1, dw1, b ? db1 : NULL, dy, x, w, &d, s1, 1);
    conv2d_backward(dx2, dw2, b ? db2 : NULL, dy, x, w, &d, s2, 2);
    conv2d_backward_naive(dxr, dwr, b ? dbr : NULL, dy, x, w, &d);
    char name[160];
    double tol = 2e-5 * sqrt((double)(C / G) * K * K * (N * d.OH * d.OW > 16 ? 16 : 1));
    snprintf(name, sizeof name, "layers_conv_fwd_vs_naive_%s", tag);
    check_close(name, y1, yr, no, tol, tol);
    snprintf(name, sizeof name, "layers_conv_dinp_vs_naive_%s", tag);
    check_close(name, dx1, dxr, ni, tol, tol);
    snprintf(name, sizeof name, "layers_conv_dweight_vs_naive_%s", tag);
    check_close(name, dw1, dwr, nw, 1e-4 * sqrt((double)N * d.OH * d.OW), 1e-4);
    if (b) {
        snprintf(name, sizeof name, "layers_conv_dbias_vs_naive_%s", tag);
        check_close(name, db1, dbr, O, 1e-4 * sqrt((double)N * d.OH * d.OW), 1e-4);
    }
    snprintf(name, sizeof name, "layers_conv_threads_bitwise_%s", tag);
    CHECK(!memcmp(y1, y2, sizeof(float) * no) && !memcmp(dx1, dx2, sizeof(float) * ni) &&
              !memcmp(dw1, dw2, sizeof(float) * nw) && !memcmp(db1, db2, sizeof(float) * O),
          name, "1- and 2-thread results differ");
    free(x), free(w), free(b), free(dy), free(y1), free(y2), free(yr), free(dx1), free(dx2);
    free(dxr), free(dw1), free(dw2), free(dwr), free(db1), free(db2), free(dbr), free(s1);
    free(s2);
}

static void test_conv(void)
{
    conv_compare("3x3_pad1", 3, 5, 9, 7, 6, 3, 1, 1, 1, 1);
    conv_compare("3x3_stride2", 2, 4, 11, 10, 9, 3, 2, 1, 1, 0);
    conv_compare("5x5_stride3_pad2", 1, 3, 13, 12, 4, 5, 3, 2, 1, 1);
    conv_compare("1x1_pointwise", 4, 16, 6, 6, 40, 1, 1, 0, 1, 1);
    conv_compare("grouped_g2", 3, 8, 8, 8, 6, 3, 1, 1, 2, 1);
    conv_compare("depthwise", 3, 6, 9, 9, 6, 3, 1, 1, 6, 1);
    conv_compare("depthwise_mult2_s2", 2, 4, 9, 8, 8, 3, 2, 1, 4, 0);
    conv_compare("batch1_wide", 1, 20, 20, 21, 70, 3, 1, 1, 1, 1);
    conv_compare("batch17_chunks", 17, 3, 6, 6, 5, 3, 1, 1, 1, 1);
    conv_compare("large_k_panels", 2, 40, 7, 7, 10, 3, 1, 1, 1, 0);
    /* the flipped-kernel input gradient: a wide map, and many channels */
    conv_compare("wflip_wide_map", 2, 16, 32, 33, 8, 3, 1, 1, 1, 1);
    conv_compare("wflip_many_channels", 1, 128, 5, 6, 12, 3, 1, 1, 1, 0);
    conv_compare("wflip_grouped_1x1", 2, 256, 4, 4, 8, 1, 1, 0, 2, 1);

    struct conv2d_dims d;
    const int cfg[][8] = {/* N C H W O K S P, groups last */
                          {2, 3, 5, 4, 4, 3, 1, 1}, {1, 4, 6, 5, 2, 3, 2, 1},
                          {2, 4, 4, 4, 4, 3, 1, 1}};
    const int groups[] = {1, 2, 4};
    const char *names[] = {"conv_3x3", "conv_stride2", "conv_depthwise"};
    for (int k = 0; k < 3; k++) {
        const int *q = cfg[k];
        conv2d_dims_init(&d, q[0], q[1], q[2], q[3], q[4], q[5], q[5], q[6], q[6], q[7], q[7],
                         groups[k]);
        struct fd_case c = {.name = names[k], .forward = conv_fwd, .backward = conv_bwd,
                            .eps = 0.25, .tol = 1e-3, .dims = &d, .ival = 1};
        fd_alloc(&c, 0, "dinp", (size_t)q[0] * q[1] * q[2] * q[3], -1, 1);
        fd_alloc(&c, 1, "dweight", (size_t)q[4] * (q[1] / groups[k]) * q[5] * q[5], -1, 1);
        fd_alloc(&c, 2, "dbias", q[4], -1, 1);
        fd_out(&c, (size_t)q[0] * q[4] * d.OH * d.OW);
        fd_run(&c);
        fd_free(&c);
    }
    CHECK(conv2d_dims_init(&d, 1, 3, 4, 4, 4, 3, 3, 1, 1, 1, 1, 2) < 0, "layers_conv_bad_groups",
          "3 channels with groups 2 accepted");
    CHECK(conv2d_dims_init(&d, 1, 3, 2, 2, 4, 5, 5, 1, 1, 1, 1, 1) < 0, "layers_conv_too_big",
          "5x5 kernel on padded 4x4 accepted");
}

/* ---- batch norm ----------------------------------------------------------------------- */

struct bn_dims {
    int N, C, HW, train;
    float *mean, *var, *smean, *sinv, *rmean, *rvar;
};

static void bn_fwd(struct fd_case *c)
{
    const struct bn_dims *b = c->dims;
    if (b->train) {
        /* running stats would drift with each call: update copies */
        float rm[16], rv[16];
        memcpy(rm, b->rmean, sizeof(float) * b->C), memcpy(rv, b->rvar, sizeof(float) * b->C);
        batchnorm_forward_train(c->out, b->smean, b->sinv, rm, rv, c->x[0], c->x[1], c->x[2],
                                1e-5f, 0.1f, b->N, b->C, b->HW, 1);
    } else {
        batchnorm_forward_eval(c->out, c->x[0], c->x[1], c->x[2], b->mean, b->var, 1e-5f, b->N,
                               b->C, b->HW, 1);
    }
}

static void bn_bwd(struct fd_case *c)
{
    const struct bn_dims *b = c->dims;
    if (b->train)
        batchnorm_backward_train(c->dx[0], c->dx[1], c->dx[2], c->dout, c->x[0], c->x[1],
                                 b->smean, b->sinv, b->N, b->C, b->HW, 1, 1);
    else
        batchnorm_backward_eval(c->dx[0], c->dx[1], c->dx[2], c->dout, c->x[0], c->x[1],
                                b->mean, b->var, 1e-5f, b->N, b->C, b->HW, 1, 1);
}

static void test_batchnorm(void)
{
    for (int train = 0; train < 2; train++) {
        struct bn_dims b = {3, 4, 5, train, randv(4, -1, 1), randv(4, 0.5f, 2), zerov(4),
                            zerov(4), randv(4, -1, 1), randv(4, 0.5f, 2)};
        struct fd_case c = {.name = train ? "bn_train" : "bn_eval", .forward = bn_fwd,
                            .backward = bn_bwd, .eps = train ? 1e-2 : 0.25,
                            .tol = train ? 3e-3 : 1e-3, .dims = &b};
        fd_alloc(&c, 0, "dinp", 60, -2, 2);
        fd_alloc(&c, 1, "dgamma", 4, 0.5f, 1.5f);
        fd_alloc(&c, 2, "dbeta", 4, -1, 1);
        fd_out(&c, 60);
        fd_run(&c);
        if (train) {
            /* running stats: (1-m)*r + m*batch, variance unbiased. */
            float rm[4], rv[4];
            memcpy(rm, b.rmean, sizeof rm), memcpy(rv, b.rvar, sizeof rv);
            batchnorm_forward_train(c.out, b.smean, b.sinv, rm, rv, c.x[0], c.x[1], c.x[2],
                                    1e-5f, 0.1f, 3, 4, 5, 1);
            double m = 0, v = 0;
            for (int n = 0; n < 3; n++)
                for (int i = 0; i < 5; i++)
                    m += c.x[0][(n * 4 + 1) * 5 + i];
            m /= 15;
            for (int n = 0; n < 3; n++)
                for (int i = 0; i < 5; i++)
                    v += pow(c.x[0][(n * 4 + 1) * 5 + i] - m, 2);
            double em = 0.9 * b.rmean[1] + 0.1 * m, ev = 0.9 * b.rvar[1] + 0.1 * v / 14;
            CHECK(fabs(rm[1] - em) < 1e-6 && fabs(rv[1] - ev) < 1e-6, "layers_bn_running_stats",
                  "mean %g vs %g, var %g vs %g", rm[1], em, rv[1], ev);
        }
        fd_free(&c);
        free(b.mean), free(b.var), free(b.smean), free(b.sinv), free(b.rmean), free(b.rvar);
    }
}

/* ---- pools ---------------------------------------------------------------------------- */

static void pool_fwd(struct fd_case *c)
{
    if (c->ival)
        maxpool2d_forward(c->out, c->x[0], c->dims, 1);
    else
        avgpool2d_forward(c->out, c->x[0], c->dims, 1);
}

static void pool_bwd(struct fd_case *c)
{
    if (c->ival)
        maxpool2d_backward(c->dx[0], c->dout, c->x[0], c->dims, 1, 1);
    else
        avgpool2d_backward(c->dx[0], c->dout, c->dims, 1);
}

static void test_pools(void)
{
    struct pool2d_dims d;
    /* PyTorch: MaxPool2d(3, 2, ceil_mode=True) on 6x6 gives 3x3 (floor: 2x2); with padding 1
     * on 5x5 ceil gives 3x3; the last window must start inside input + left pad. */
    pool2d_dims_init(&d, 1, 1, 6, 6, 3, 3, 2, 2, 0, 0, 1, 1);
    CHECK(d.OH == 3 && d.OW == 3, "layers_pool_ceil_size", "got %dx%d", d.OH, d.OW);
    pool2d_dims_init(&d, 1, 1, 6, 6, 3, 3, 2, 2, 0, 0, 0, 1);
    CHECK(d.OH == 2, "layers_pool_floor_size", "got %d", d.OH);
    pool2d_dims_init(&d, 1, 1, 5, 5, 2, 2, 2, 2, 1, 1, 1, 1);
    CHECK(d.OH == 3, "layers_pool_ceil_pad_size", "got %d", d.OH);
    CHECK(pool2d_dims_init(&d, 1, 1, 5, 5, 2, 2, 2, 2, 2, 2, 0, 1) < 0, "layers_pool_bad_pad",
          "padding 2 with kernel 2 accepted");

    /* avg pool divisors, 1x1x3x3 input 1..9, kernel 2, stride 2, pad 1, ceil: windows
     * clipped to the padded input; count_include_pad 1 divides by 4 (2 for the ceil edge
     * overhang beyond the padding would not occur here), 0 by the valid count. */
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, y[4];
    pool2d_dims_init(&d, 1, 1, 3, 3, 2, 2, 2, 2, 1, 1, 0, 1);
    avgpool2d_forward(y, x, &d, 1);
    CHECK(d.OH == 2 && y[0] == 0.25f && y[1] == (2 + 3) / 4.0f && y[3] == (5 + 6 + 8 + 9) / 4.0f,
          "layers_avgpool_include_pad", "got %g %g %g %g", y[0], y[1], y[2], y[3]);
    pool2d_dims_init(&d, 1, 1, 3, 3, 2, 2, 2, 2, 1, 1, 0, 0);
    avgpool2d_forward(y, x, &d, 1);
    CHECK(y[0] == 1 && y[1] == 2.5f && y[2] == 5.5f, "layers_avgpool_exclude_pad",
          "got %g %g %g", y[0], y[1], y[2]);
    /* ceil-mode overhang past the padded input is not counted (PyTorch): 1x1x4 row, k 3 s 2,
     * ceil: windows [0,3) and [2,5)->[2,4) divisor 2. */
    float r[4] = {1, 2, 3, 4};
    pool2d_dims_init(&d, 1, 1, 1, 4, 1, 3, 1, 2, 0, 0, 1, 1);
    avgpool2d_forward(y, r, &d, 1);
    CHECK(d.OW == 2 && y[0] == 2 && y[1] == 3.5f, "layers_avgpool_ceil_overhang", "got %g %g",
          y[0], y[1]);

    /* max pool ties go to the first maximum in row-major order. */
    float t[4] = {5, 5, 5, 5}, g = 1, dt[4] = {0};
    pool2d_dims_init(&d, 1, 1, 2, 2, 2, 2, 2, 2, 0, 0, 0, 1);
    maxpool2d_backward(dt, &g, t, &d, 1, 1);
    CHECK(dt[0] == 1 && dt[1] == 0 && dt[3] == 0, "layers_maxpool_first_max", "got %g %g %g %g",
          dt[0], dt[1], dt[2], dt[3]);

    for (int mx = 0; mx < 2; mx++) {
        pool2d_dims_init(&d, 2, 2, 5, 6, 3, 2, 2, 2, 1, 1, 1, 0);
        struct fd_case c = {.name = mx ? "maxpool_ceil_pad" : "avgpool_ceil_pad",
                            .forward = pool_fwd, .backward = pool_bwd, .eps = mx ? 1e-3 : 0.25,
                            .tol = 1e-3, .dims = &d, .ival = mx};
        fd_alloc(&c, 0, "dinp", 120, -1, 1);
        if (mx) /* distinct values 0.01 apart, shuffled: no window ties within 2 eps */
            for (int i = 0; i < 120; i++)
                c.x[0][i] = (float)((i * 37) % 120) * 0.01f;
        fd_out(&c, (size_t)2 * 2 * d.OH * d.OW);
        fd_run(&c);
        fd_free(&c);
    }
}

/* ---- linear, global pool, element-wise ------------------------------------------------ */

static void lin_fwd(struct fd_case *c)
{
    float *w = aligned_alloc(64, sizeof(float) * 2 * gemm_work_floats());
    linear_forward(c->out, c->x[0], c->x[1], c->x[2], 3, 7, 5, w, 2);
    free(w);
}

static void lin_bwd(struct fd_case *c)
{
    float *w = aligned_alloc(64, sizeof(float) * 2 * gemm_work_floats());
    linear_backward(c->dx[0], c->dx[1], c->dx[2], c->dout, c->x[0], c->x[1], 3, 7, 5, w, 2);
    free(w);
}

static void gap_fwd(struct fd_case *c)
{
    global_avgpool_forward(c->out, c->x[0], 2, 3, 10, 1);
}

static void gap_bwd(struct fd_case *c)
{
    global_avgpool_backward(c->dx[0], c->dout, 2, 3, 10, 1);
}

static void ew_fwd(struct fd_case *c)
{
    switch (c->ival) {
    case 0: relu_forward(c->out, c->x[0], c->nout, 1); break;
    case 1: sigmoid_forward(c->out, c->x[0], c->nout, 1); break;
    case 2: softmax_forward(c->out, c->x[0], 2, 5, 3, 1); break;
    case 3: add_forward(c->out, c->x[0], c->x[1], c->nout, 1); break;
    case 4: {
        const float *ins[2] = {c->x[0], c->x[1]};
        int ch[2] = {2, 3};
        concat_forward(c->out, ins, ch, 2, 2, 4);
        break;
    }
    case 5: dropout_forward(c->out, c->x[0], 3, 8, 0.4f, 1, 77, NULL, 1); break;
    }
}

static void ew_bwd(struct fd_case *c)
{
    switch (c->ival) {
    case 0: relu_backward(c->dx[0], c->dout, c->x[0], c->nout, RELU_PLAIN, 1, 1); break;
    case 1: sigmoid_backward(c->dx[0], c->dout, c->out, c->nout, 1); break;
    case 2: softmax_backward(c->dx[0], c->dout, c->out, 2, 5, 3, 1); break;
    case 3: add_backward(c->dx[0], c->dx[1], c->dout, c->nout, 1); break;
    case 4: {
        float *d[2] = {c->dx[0], c->dx[1]};
        int ch[2] = {2, 3};
        concat_backward(d, c->dout, ch, 2, 2, 4);
        break;
    }
    case 5: dropout_backward(c->dx[0], c->dout, 3, 8, 0.4f, 1, 77, NULL, 1); break;
    }
}

static void test_misc_fd(void)
{
    struct fd_case lc = {.name = "linear", .forward = lin_fwd, .backward = lin_bwd, .eps = 0.25,
                         .tol = 1e-3};
    fd_alloc(&lc, 0, "dinp", 21, -1, 1);
    fd_alloc(&lc, 1, "dweight", 35, -1, 1);
    fd_alloc(&lc, 2, "dbias", 5, -1, 1);
    fd_out(&lc, 15);
    fd_run(&lc);
    fd_free(&lc);

    struct fd_case gc = {.name = "global_avgpool", .forward = gap_fwd, .backward = gap_bwd,
                         .eps = 0.25, .tol = 1e-3};
    fd_alloc(&gc, 0, "dinp", 60, -1, 1);
    fd_out(&gc, 6);
    fd_run(&gc);
    fd_free(&gc);

    const char *names[] = {"relu", "sigmoid", "softmax", "add", "concat", "dropout_train"};
    const size_t nout[] = {40, 40, 30, 24, 40, 24}, n0[] = {40, 40, 30, 24, 16, 24};
    for (int k = 0; k < 6; k++) {
        int smooth = k == 1 || k == 2;
        struct fd_case c = {.name = names[k], .forward = ew_fwd, .backward = ew_bwd,
                            .eps = smooth || k == 0 ? 1e-2 : 0.25, .tol = smooth ? 3e-3 : 1e-3,
                            .ival = k};
        fd_alloc(&c, 0, "dinp", n0[k], -2, 2);
        if (k == 0) /* keep ReLU inputs away from the kink */
            for (size_t i = 0; i < n0[k]; i++)
                c.x[0][i] += c.x[0][i] >= 0 ? 0.1f : -0.1f;
        if (k == 3) fd_alloc(&c, 1, "dinp2", 24, -1, 1);
        if (k == 4) fd_alloc(&c, 1, "dinp2", 24, -1, 1);
        fd_out(&c, nout[k]);
        fd_run(&c);
        fd_free(&c);
    }
}

/* ---- accumulate 0: the input gradient written whole -------------------------------------- */

/* n values in [-1, 1] with exact ties, -0.0, +0.0 and (nan) a NaN among them. */
static float *tricky(size_t n, uint64_t key, int nan)
{
    float *v = randv(n, -1, 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t h = (i + 1) * 0x9e3779b97f4a7c15ull ^ key;
        if (h % 7 == 0) v[i] = -0.0f;
        if (h % 11 == 0) v[i] = 0.0f;
        if (h % 13 == 0 && i) v[i] = v[i - 1];
    }
    if (nan) v[n / 3] = NAN;
    return v;
}

/* Writing (accumulate 0) into a buffer of garbage gives bitwise what adding (accumulate 1)
 * into a zeroed buffer gives, -0 terms included, for each kernel that offers it. */
static void test_set_equals_add(void)
{
    enum { N = 2, C = 3, H = 7, W = 9 };
    size_t n = (size_t)N * C * H * W;
    float *x = tricky(n, 1, 0), *dy = tricky(n, 2, 0), *set = malloc(n * sizeof(float));
    float *add = malloc(n * sizeof(float));
    int ok = 1;
    for (int rule = 0; rule < 3; rule++) {
        memset(add, 0, n * sizeof(float));
        for (size_t i = 0; i < n; i++)
            set[i] = NAN;
        relu_backward(add, dy, x, n, (enum relu_rule)rule, 1, 1);
        relu_backward(set, dy, x, n, (enum relu_rule)rule, 0, 1);
        ok &= !memcmp(add, set, n * sizeof(float));
    }
    CHECK(ok, "layers_relu_backward_set_equals_add", "");
    float *gm = randv(C, 0.5f, 2), *mean = randv(C, -1, 1), *var = randv(C, 0.5f, 2);
    for (int train = 0; train < 2; train++) {
        memset(add, 0, n * sizeof(float));
        for (size_t i = 0; i < n; i++)
            set[i] = NAN;
        for (int a = 0; a < 2; a++) {
            float *dx = a ? add : set;
            if (train)
                batchnorm_backward_train(dx, NULL, NULL, dy, x, gm, mean, var, N, C, H * W, a, 1);
            else
                batchnorm_backward_eval(dx, NULL, NULL, dy, x, gm, mean, var, 1e-5f, N, C, H * W,
                                        a, 1);
        }
        CHECK(!memcmp(add, set, n * sizeof(float)),
              train ? "layers_bn_train_backward_set_equals_add"
                    : "layers_bn_eval_backward_set_equals_add", "");
    }
    /* 2x2 stride 2 on odd H, W (uncovered last row and column), with a NaN; and 3x3 stride 2
     * padded windows that overlap */
    float *xp = tricky(n, 3, 1);
    struct pool2d_dims d;
    for (int k = 0; k < 2; k++) {
        if (k == 0) pool2d_dims_init(&d, N, C, H, W, 2, 2, 2, 2, 0, 0, 0, 1);
        else pool2d_dims_init(&d, N, C, H, W, 3, 3, 2, 2, 1, 1, 1, 1);
        memset(add, 0, n * sizeof(float));
        for (size_t i = 0; i < n; i++)
            set[i] = NAN;
        maxpool2d_backward(add, dy, xp, &d, 1, 1);
        maxpool2d_backward(set, dy, xp, &d, 0, 1);
        CHECK(!memcmp(add, set, n * sizeof(float)),
              k ? "layers_maxpool_overlap_backward_set_equals_add"
                : "layers_maxpool_k2s2_backward_set_equals_add", "");
    }
    free(x), free(dy), free(set), free(add), free(gm), free(mean), free(var), free(xp);
}

/* ---- rules and dropout known answers -------------------------------------------------- */

static void test_relu_rules(void)
{
    /* x = -1, 0, 2, 3 ; dout = 1, 1, -1, 2 */
    float x[4] = {-1, 0, 2, 3}, dy[4] = {1, 1, -1, 2};
    float plain[4] = {0}, guided[4] = {0}, deconv[4] = {0};
    relu_backward(plain, dy, x, 4, RELU_PLAIN, 1, 1);
    relu_backward(guided, dy, x, 4, RELU_GUIDED, 1, 1);
    relu_backward(deconv, dy, x, 4, RELU_DECONVNET, 1, 1);
    CHECK(plain[0] == 0 && plain[1] == 0 && plain[2] == -1 && plain[3] == 2,
          "layers_relu_plain_rule", "got %g %g %g %g", plain[0], plain[1], plain[2], plain[3]);
    /* TorchRay guided: x == 0 passes, negative gradients are cut. */
    CHECK(guided[0] == 0 && guided[1] == 1 && guided[2] == 0 && guided[3] == 2,
          "layers_relu_guided_rule", "got %g %g %g %g", guided[0], guided[1], guided[2],
          guided[3]);
    CHECK(deconv[0] == 1 && deconv[1] == 1 && deconv[2] == 0 && deconv[3] == 2,
          "layers_relu_deconvnet_rule", "got %g %g %g %g", deconv[0], deconv[1], deconv[2],
          deconv[3]);
}

static void test_dropout(void)
{
    size_t D = 1000;
    float *x = randv(3 * D, 1, 2), *y = zerov(3 * D), *y2 = zerov(2 * D);
    dropout_forward(y, x, 3, D, 0.3f, 0, 5, NULL, 1);
    CHECK(!memcmp(x, y, sizeof(float) * 3 * D), "layers_dropout_eval_identity", "changed");
    uint64_t keys[3] = {10, 20, 30}, keys2[2] = {30, 10};
    dropout_forward(y, x, 3, D, 0.3f, 1, 5, keys, 2);
    /* the same examples in another batch order keep the same masks */
    float *x2 = zerov(2 * D);
    memcpy(x2, x + 2 * D, sizeof(float) * D), memcpy(x2 + D, x, sizeof(float) * D);
    dropout_forward(y2, x2, 2, D, 0.3f, 1, 5, keys2, 1);
    CHECK(!memcmp(y2, y + 2 * D, sizeof(float) * D) && !memcmp(y2 + D, y, sizeof(float) * D),
          "layers_dropout_batch_independent", "mask depends on batch composition");
    size_t zeros = 0, scaled = 0;
    for (size_t i = 0; i < 3 * D; i++) {
        zeros += y[i] == 0;
        scaled += y[i] == x[i] * (1.0f / 0.7f);
    }
    CHECK(zeros + scaled == 3 * D && zeros > 800 && zeros < 1000, "layers_dropout_rate",
          "%zu zeros, %zu scaled of %zu", zeros, scaled, 3 * D);
    CHECK(dropout_layer_seed(5, 1, 0) != dropout_layer_seed(5, 2, 0) &&
              dropout_layer_seed(5, 1, 0) != dropout_layer_seed(5, 1, 1),
          "layers_dropout_layer_step_keys", "layer or step does not change the mask");
    free(x), free(y), free(y2), free(x2);
}

int main(void)
{
    test_conv();
    test_batchnorm();
    test_pools();
    test_misc_fd();
    test_relu_rules();
    test_set_equals_add();
    test_dropout();
    return check_summary();
}
