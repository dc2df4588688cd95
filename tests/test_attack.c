/* Tests of pipeline/attack: FGSM/PGD against a small random CNN (gradient vs finite
 * differences, loss up untargeted and down targeted, the eps ball exact in uint8, PGD with 0
 * iterations is the identity, bitwise equal at 1 and 2 threads and at batch sizes 3 and 8), the
 * corruptions (noise statistics, blur of a constant, JPEG tables and quality 100 near identity)
 * and the quantisation. `test_attack --write-model OUT EXAMPLES HEAD` writes the random model
 * the shell tests use (input shape and class names from an examples.h5, head softmax|sigmoid). */
#include "tests/check.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "formats/exampleset.h"
#include "formats/model.h"
#include "pipeline/attack.h"
#include "pipeline/err.h"
#include "pipeline/init.h"
#include "pipeline/net.h"

#define TA_H 12
#define TA_W 10
#define TA_C 3
#define TA_K 4
#define TA_N 8
#define TA_N1 (TA_H * TA_W * TA_C)

static const char *ta_arch(char *buf, size_t cap, int H, int W, int C, int K, const char *head)
{
    snprintf(buf, cap,
             "{\"format\": \"salbench-net\", \"version\": 1, \"layers\": ["
             "{\"kind\": \"input\", \"name\": \"input\", \"channels\": %d, \"height\": %d, "
             "\"width\": %d},"
             "{\"kind\": \"conv2d\", \"name\": \"conv1\", \"out_channels\": 6, \"kernel_size\": 3,"
             " \"padding\": 1},"
             "{\"kind\": \"relu\", \"name\": \"relu1\"},"
             "{\"kind\": \"maxpool2d\", \"name\": \"pool1\", \"kernel_size\": 2, \"ceil_mode\": "
             "true},"
             "{\"kind\": \"conv2d\", \"name\": \"conv2\", \"out_channels\": 8, \"kernel_size\": 3,"
             " \"padding\": 1},"
             "{\"kind\": \"relu\", \"name\": \"relu2\"},"
             "{\"kind\": \"global_avgpool\", \"name\": \"gap\"},"
             "{\"kind\": \"flatten\", \"name\": \"flat\"},"
             "{\"kind\": \"linear\", \"name\": \"fc\", \"out_features\": %d},"
             "{\"kind\": \"%s\", \"name\": \"head\"}]}",
             C, H, W, K, head);
    return buf;
}

/* A random model (PyTorch init, seed 7) with mean 0.4 / std 0.3 per channel. */
static int ta_model(struct model *m, int H, int W, int C, int K, const char *head, int batch)
{
    char json[2048];
    struct net_layer_spec *specs = NULL;
    int n = 0;
    model_init(m);
    if (model_arch_parse(ta_arch(json, sizeof json, H, W, C, K, head), "test", &specs, &n) ||
        model_build(m, specs, n, batch, 0)) {
        free(specs);
        return -1;
    }
    free(specs);
    init_net(m->net, 7, INIT_PYTORCH);
    for (int c = 0; c < C; c++)
        m->mean[c] = 0.4 + 0.05 * c, m->std[c] = 0.3 - 0.02 * c;
    return 0;
}

static struct attack_model ta_view(struct model *m)
{
    struct attack_model am = {m->net, m->mean, m->std, m->height, m->width, m->channels,
                              m->n_classes, m->activation == MODEL_SIGMOID};
    return am;
}

/* Smooth-ish test images with ids. */
static void ta_images(uint8_t *img, uint64_t *ids, int N)
{
    for (int n = 0; n < N; n++) {
        ids[n] = 0x9e3779b97f4a7c15ull * (uint64_t)(n + 1);
        for (int i = 0; i < TA_N1; i++)
            img[n * TA_N1 + i] = (uint8_t)((37 * n + 11 * i + (i * i) % 23) % 256);
    }
}

static int ta_threads(int n)
{
#ifdef _OPENMP
    int old = omp_get_max_threads();
    omp_set_num_threads(n);
    return old;
#else
    (void)n;
    return 1;
#endif
}

/* Loss of uint8 images through the model. */
static void ta_loss_u8(float *loss, const struct attack_model *am, const uint8_t *img,
                       const int32_t *cls, const float *hot, int N)
{
    float *x = malloc((size_t)N * TA_N1 * sizeof *x), *xin = malloc((size_t)N * TA_N1 * 4);
    attack_to_unit(x, img, (size_t)N * TA_N1);
    if (attack_loss(loss, NULL, xin, am, x, cls, hot, N)) printf("# loss: %s\n", err_msg());
    free(x);
    free(xin);
}

static void test_gradient(struct attack_model *am)
{
    float x[2 * TA_N1], g[2 * TA_N1], xin[2 * TA_N1], dl[2 * TA_K], loss[2], lp[2], lm[2];
    int32_t cls[2] = {1, 3};
    uint8_t img[2 * TA_N1];
    uint64_t ids[2];
    ta_images(img, ids, 2);
    attack_to_unit(x, img, 2 * TA_N1);
    int rc = attack_loss_grad(g, loss, NULL, xin, dl, am, x, cls, NULL, 2);
    double worst = 0;
    const int probe[6] = {0, 17, 101, 200, 359, TA_N1 + 45};
    for (int k = 0; rc == 0 && k < 6; k++) {
        int i = probe[k];
        float keep = x[i], h = 2e-3f;
        x[i] = keep + h;
        rc |= attack_loss(lp, NULL, xin, am, x, cls, NULL, 2);
        x[i] = keep - h;
        rc |= attack_loss(lm, NULL, xin, am, x, cls, NULL, 2);
        x[i] = keep;
        int n = i / TA_N1;
        double fd = ((double)lp[n] - lm[n]) / (2.0 * h);
        double d = fabs(fd - g[i]) / (fabs(fd) + 1e-3);
        worst = d > worst ? d : worst;
    }
    CHECK(rc == 0 && worst < 0.05, "attack_grad_finite_diff", "rc=%d worst rel diff %.3g", rc,
          worst);
}

static int ta_run(uint8_t *out, const struct attack_params *p, struct attack_model *am,
                  const uint8_t *img, const uint64_t *ids, const int32_t *cls, const float *hot,
                  int N, int B)
{
    const int dims[3] = {TA_H, TA_W, TA_C};
    float *s = malloc(attack_scratch_floats(p, dims, TA_K, B) * sizeof *s);
    int rc = 0;
    for (int at = 0; rc == 0 && at < N; at += B) {
        int n = N - at < B ? N - at : B;
        rc = attack_batch(out + (size_t)at * TA_N1, p, am, dims, img + (size_t)at * TA_N1,
                          ids + at, cls + at, hot ? hot + (size_t)at * TA_K : NULL, n, s);
    }
    free(s);
    return rc;
}

static int ta_max_levels(const uint8_t *a, const uint8_t *b, size_t n)
{
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        m = d > m ? d : m;
    }
    return m;
}

static void test_direction(struct attack_model *am)
{
    uint8_t img[TA_N * TA_N1], adv[TA_N * TA_N1];
    uint64_t ids[TA_N];
    int32_t cls[TA_N];
    float l0[TA_N], l1[TA_N];
    ta_images(img, ids, TA_N);
    for (int n = 0; n < TA_N; n++)
        cls[n] = n % TA_K;
    struct attack_params p = {.kind = ATTACK_FGSM, .eps = 8.0f / 255};
    int rc = ta_run(adv, &p, am, img, ids, cls, NULL, TA_N, TA_N);
    ta_loss_u8(l0, am, img, cls, NULL, TA_N);
    ta_loss_u8(l1, am, adv, cls, NULL, TA_N);
    int up = 0;
    for (int n = 0; n < TA_N; n++)
        up += l1[n] > l0[n];
    CHECK(rc == 0 && up == TA_N, "attack_fgsm_loss_increases", "%d of %d up", up, TA_N);
    CHECK(ta_max_levels(adv, img, sizeof img) == 8, "attack_fgsm_linf_is_eps", "max %d",
          ta_max_levels(adv, img, sizeof img));

    p = (struct attack_params){.kind = ATTACK_PGD, .eps = 8.0f / 255, .step = 2.0f / 255,
                               .iters = 5};
    uint8_t pgd[TA_N * TA_N1];
    rc = ta_run(pgd, &p, am, img, ids, cls, NULL, TA_N, TA_N);
    float l2[TA_N];
    ta_loss_u8(l2, am, pgd, cls, NULL, TA_N);
    up = 0;
    for (int n = 0; n < TA_N; n++)
        up += l2[n] > l0[n];
    CHECK(rc == 0 && up == TA_N, "attack_pgd_loss_increases", "%d of %d up", up, TA_N);

    p.targeted = 1; /* cls are now the targets: their loss must go down */
    rc = ta_run(pgd, &p, am, img, ids, cls, NULL, TA_N, TA_N);
    ta_loss_u8(l2, am, pgd, cls, NULL, TA_N);
    int down = 0;
    for (int n = 0; n < TA_N; n++)
        down += l2[n] < l0[n];
    CHECK(rc == 0 && down == TA_N, "attack_pgd_targeted_loss_decreases", "%d of %d down", down,
          TA_N);
}

static void test_ball(struct attack_model *am)
{
    uint8_t img[TA_N * TA_N1], adv[TA_N * TA_N1];
    uint64_t ids[TA_N];
    int32_t cls[TA_N] = {0};
    ta_images(img, ids, TA_N);
    for (int i = 0; i < 40; i++) /* saturated pixels: the clip to [0, 255] must hold too */
        img[i] = (uint8_t)(i % 2 ? 255 : 0);
    const float eps[3] = {0.03f, 8.0f / 255, 1.0f / 255};
    int ok = 1, worst = 0;
    for (int e = 0; e < 3; e++) {
        struct attack_params p = {.kind = ATTACK_PGD, .eps = eps[e], .step = 0.011f, .iters = 4,
                                  .random_start = 1, .seed = 3};
        ok &= ta_run(adv, &p, am, img, ids, cls, NULL, TA_N, TA_N) == 0;
        int m = ta_max_levels(adv, img, sizeof img), E = attack_eps_levels(eps[e]);
        ok &= m <= E && m >= E - 1;
        worst = m > worst ? m : worst;
    }
    CHECK(ok && attack_eps_levels(0.03) == 7 && attack_eps_levels(8.0 / 255) == 8,
          "attack_eps_ball_exact_uint8", "max levels %d (E 7/8/1)", worst);

    struct attack_params p0 = {.kind = ATTACK_PGD, .eps = 8.0f / 255, .step = 2.0f / 255};
    ok = ta_run(adv, &p0, am, img, ids, cls, NULL, TA_N, TA_N) == 0;
    CHECK(ok && memcmp(adv, img, sizeof img) == 0, "attack_pgd_zero_iters_identity",
          "output differs from the input");
    p0.random_start = 1;
    ok = ta_run(adv, &p0, am, img, ids, cls, NULL, TA_N, TA_N) == 0;
    uint8_t adv2[TA_N * TA_N1];
    ok &= ta_run(adv2, &p0, am, img, ids, cls, NULL, TA_N, 3) == 0;
    CHECK(ok && memcmp(adv, img, sizeof img) != 0 && memcmp(adv, adv2, sizeof adv) == 0 &&
              ta_max_levels(adv, img, sizeof img) <= 8,
          "attack_random_start_keyed", "random start not keyed per example or outside the ball");
}

static void test_determinism(struct model *m8, struct model *m3)
{
    struct attack_model a8 = ta_view(m8), a3 = ta_view(m3);
    uint8_t img[TA_N * TA_N1], o1[TA_N * TA_N1], o2[TA_N * TA_N1], o3[TA_N * TA_N1];
    uint64_t ids[TA_N];
    int32_t cls[TA_N];
    float hot[TA_N * TA_K] = {0};
    ta_images(img, ids, TA_N);
    for (int n = 0; n < TA_N; n++)
        cls[n] = (n * 3) % TA_K, hot[n * TA_K + cls[n]] = 1;
    struct attack_params p = {.kind = ATTACK_PGD, .eps = 6.0f / 255, .step = 1.0f / 255,
                              .iters = 3, .random_start = 1, .seed = 11};
    int old = ta_threads(1);
    int rc = ta_run(o1, &p, &a8, img, ids, cls, hot, TA_N, TA_N);
    ta_threads(2);
    rc |= ta_run(o2, &p, &a8, img, ids, cls, hot, TA_N, TA_N);
    rc |= ta_run(o3, &p, &a3, img, ids, cls, hot, TA_N, 3);
    ta_threads(old);
    CHECK(rc == 0 && memcmp(o1, o2, sizeof o1) == 0, "attack_threads_1_2_bitwise",
          "1 and 2 threads differ");
    CHECK(rc == 0 && memcmp(o2, o3, sizeof o1) == 0, "attack_batch_3_8_bitwise",
          "batch 3 and 8 differ");
}

static void test_multilabel(void)
{
    struct model m;
    if (ta_model(&m, TA_H, TA_W, TA_C, TA_K, "sigmoid", TA_N)) {
        CHECK(0, "attack_multilabel_model", "%s", err_msg());
        return;
    }
    struct attack_model am = ta_view(&m);
    uint8_t img[TA_N * TA_N1], adv[TA_N * TA_N1];
    uint64_t ids[TA_N];
    float hot[TA_N * TA_K] = {0}, l0[TA_N], l1[TA_N];
    ta_images(img, ids, TA_N);
    for (int n = 0; n < TA_N; n++)
        hot[n * TA_K + n % TA_K] = 1, hot[n * TA_K + (n + 1) % TA_K] = (float)(n % 2);
    struct attack_params p = {.kind = ATTACK_PGD, .eps = 8.0f / 255, .step = 2.0f / 255,
                              .iters = 3};
    int rc = ta_run(adv, &p, &am, img, ids, NULL, hot, TA_N, TA_N);
    ta_loss_u8(l0, &am, img, NULL, hot, TA_N);
    ta_loss_u8(l1, &am, adv, NULL, hot, TA_N);
    int up = 0;
    for (int n = 0; n < TA_N; n++)
        up += l1[n] > l0[n];
    CHECK(am.multi_label && rc == 0 && up == TA_N, "attack_pgd_bce_loss_increases",
          "%d of %d up", up, TA_N);
    model_release(&m);
}

static void test_corruptions(void)
{
    enum { H = 64, W = 64, C = 3, N1 = H * W * C };
    static uint8_t img[N1], out[N1];
    static float s[3 * N1];
    const int dims[3] = {H, W, C};
    uint64_t id = 42;
    memset(img, 128, sizeof img);
    struct attack_params p = {.kind = ATTACK_NOISE, .sigma = 0.1, .seed = 5};
    attack_batch(out, &p, NULL, dims, img, &id, NULL, NULL, 1, s);
    double mean = 0, var = 0;
    for (int i = 0; i < N1; i++)
        mean += ((double)out[i] - 128) / N1;
    for (int i = 0; i < N1; i++)
        var += ((double)out[i] - 128 - mean) * ((double)out[i] - 128 - mean) / (N1 - 1);
    double sd = sqrt(var) / 255; /* rounding adds 1/12 level^2: negligible at 25.5 levels */
    CHECK(fabs(mean) < 0.5 && fabs(sd - 0.1) < 0.003, "attack_noise_statistics",
          "mean %.3f levels, sd %.4f (want 0.1)", mean, sd);
    uint8_t out2[N1];
    id = 43;
    attack_batch(out2, &p, NULL, dims, img, &id, NULL, NULL, 1, s);
    CHECK(memcmp(out, out2, N1) != 0, "attack_noise_keyed_by_id", "same noise for two ids");

    for (int i = 0; i < N1; i++)
        img[i] = (uint8_t)(i % 3 == 0 ? 37 : i % 3 == 1 ? 200 : 255);
    p = (struct attack_params){.kind = ATTACK_BLUR, .sigma = 2.5};
    attack_batch(out, &p, NULL, dims, img, &id, NULL, NULL, 1, s);
    CHECK(memcmp(out, img, N1) == 0, "attack_blur_constant_stays", "blur changed a constant");
    double taps[2 * ATTACK_BLUR_MAX_RADIUS + 1], sum = 0;
    int r = attack_blur_radius(1.0);
    attack_blur_taps(taps, r, 1.0);
    for (int k = 0; k <= 2 * r; k++)
        sum += taps[k];
    /* scipy.ndimage.gaussian_filter1d(delta, 1.0)[centre] = 0.39894346 (truncate 4, r = 4) */
    CHECK(r == 4 && fabs(sum - 1) < 1e-12 && fabs(taps[4] - 0.39894346) < 1e-7 &&
              taps[0] == taps[8],
          "attack_blur_taps", "r %d sum %.15f centre %.8f", r, sum, taps[4]);

    int t[64], ok = 1;
    attack_jpeg_table(t, 50, 0);
    ok &= t[0] == 16 && t[63] == 99;
    attack_jpeg_table(t, 100, 1);
    for (int i = 0; i < 64; i++)
        ok &= t[i] == 1;
    attack_jpeg_table(t, 10, 0);
    ok &= t[0] == 80 && t[63] == 255; /* 16 * 500 / 100, 99 * 5 clamped */
    CHECK(ok, "attack_jpeg_tables", "IJG scaling wrong");

    for (int y = 0; y < H; y++) /* a smooth image with an edge */
        for (int x = 0; x < W; x++)
            for (int c = 0; c < C; c++)
                img[(y * W + x) * C + c] = (uint8_t)(x < 30 ? 40 + 2 * y + 20 * c : 220 - x - c);
    double err[2];
    const int q[2] = {100, 20};
    for (int k = 0; k < 2; k++) {
        p = (struct attack_params){.kind = ATTACK_JPEG, .quality = q[k]};
        attack_batch(out, &p, NULL, dims, img, &id, NULL, NULL, 1, s);
        int linf;
        attack_norms(&linf, &err[k], out, img, N1);
        if (k == 0)
            CHECK(linf <= 2, "attack_jpeg_q100_near_identity", "max %d levels", linf);
    }
    CHECK(err[1] > 4 * err[0], "attack_jpeg_lower_quality_more_loss", "l2 q100 %.4f q20 %.4f",
          err[0], err[1]);
    const int gdims[3] = {13, 11, 1}; /* grey, size not a multiple of 8 */
    uint8_t g[13 * 11], go[13 * 11];
    for (int i = 0; i < 13 * 11; i++)
        g[i] = (uint8_t)(90 + i % 11);
    p = (struct attack_params){.kind = ATTACK_JPEG, .quality = 100};
    attack_batch(go, &p, NULL, gdims, g, &id, NULL, NULL, 1, s);
    CHECK(ta_max_levels(go, g, sizeof g) <= 1, "attack_jpeg_grey_edge_blocks", "max %d",
          ta_max_levels(go, g, sizeof g));
}

static void test_quantise(void)
{
    const float x[6] = {0.0f, 1.0f, 0.5f / 255, 1.49f / 255, 100.5f / 255, 1.2f};
    const uint8_t orig[6] = {10, 250, 0, 0, 100, 255};
    uint8_t q[6], r[6];
    attack_quantise(q, x, orig, -1, 6);
    attack_quantise(r, x, orig, 3, 6);
    CHECK(q[0] == 0 && q[1] == 255 && q[2] == 1 && q[3] == 1 && q[4] == 101 && q[5] == 255,
          "attack_quantise_rounds", "%d %d %d %d %d %d", q[0], q[1], q[2], q[3], q[4], q[5]);
    CHECK(r[0] == 7 && r[1] == 253 && r[2] == 1 && r[4] == 101, "attack_quantise_clamps_ball",
          "%d %d %d %d", r[0], r[1], r[2], r[4]);
    CHECK(attack_kind_from_name("pgd") == ATTACK_PGD && attack_kind_from_name("x") < 0 &&
              strcmp(attack_kind_name(ATTACK_JPEG), "jpeg") == 0,
          "attack_kind_names", "names");
}

/* --write-model OUT EXAMPLES HEAD: the random model the shell tests attack with. */
static int ta_write_model(const char *out, const char *examples, const char *head)
{
    struct exampleset e;
    struct model m;
    exampleset_init(&e);
    if (exampleset_open(&e, examples)) {
        fprintf(stderr, "test_attack: %s\n", err_msg());
        return 1;
    }
    int rc = ta_model(&m, e.H, e.W, e.C, e.K, head, 1);
    for (int k = 0; rc == 0 && k < e.K; k++)
        snprintf(m.class_names[k], MODEL_CLASS_NAME_MAX, "%s", e.class_names[k]);
    if (rc == 0) rc = model_save(&m, out, "test_attack", "{}", NULL, 0);
    if (rc) fprintf(stderr, "test_attack: %s\n", err_msg());
    exampleset_release(&e);
    model_release(&m);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--write-model") == 0)
        return ta_write_model(argv[2], argv[3], argv[4]);
    struct model m8, m3;
    if (ta_model(&m8, TA_H, TA_W, TA_C, TA_K, "softmax", TA_N) ||
        ta_model(&m3, TA_H, TA_W, TA_C, TA_K, "softmax", 3)) {
        CHECK(0, "attack_model", "%s", err_msg());
        return check_summary();
    }
    struct attack_model am = ta_view(&m8);
    test_gradient(&am);
    test_direction(&am);
    test_ball(&am);
    test_determinism(&m8, &m3);
    test_multilabel();
    test_corruptions();
    test_quantise();
    model_release(&m8);
    model_release(&m3);
    return check_summary();
}
