/* Tests of pipeline/loss: softmax cross-entropy and BCE with logits against PyTorch values
 * (tests/ref/train_fixtures.h, with logits of +-150 that overflow naive forms), per-example
 * losses, and central finite differences of the returned loss in double. */
#include <math.h>
#include <string.h>

#include "pipeline/loss.h"
#include "tests/check.h"
#include "tests/ref/train_fixtures.h"

enum { N = FIX_LOSS_N, K = FIX_LOSS_K };

static double ce_at(const float *x)
{
    return loss_softmax_ce(NULL, NULL, x, fix_loss_labels, N, K);
}

static double bce_at(const float *x)
{
    return loss_bce_logits(NULL, NULL, x, fix_loss_targets, N, K);
}

/* Central differences of f at each logit (step h), against the analytic gradient g. */
static void check_fd(const char *name, double (*f)(const float *), const float *g)
{
    float x[N * K], fd[N * K];
    const float h = 1e-2f;
    memcpy(x, fix_loss_logits, sizeof x);
    for (int i = 0; i < N * K; i++) {
        float keep = x[i];
        x[i] = keep + h;
        double up = f(x);
        x[i] = keep - h;
        double down = f(x);
        x[i] = keep;
        fd[i] = (float)((up - down) / (2.0 * (double)h));
    }
    check_close(name, fd, g, N * K, 2e-5, 1e-3);
}

int main(void)
{
    float grad[N * K], per[N];
    double l = loss_softmax_ce(per, grad, fix_loss_logits, fix_loss_labels, N, K);
    CHECK(fabs(l - fix_ce_loss[0]) <= 1e-5 * fabs(fix_ce_loss[0]), "loss_ce_value",
          "%.9g vs torch %.9g", l, fix_ce_loss[0]);
    check_close("loss_ce_grad", grad, fix_ce_grad, N * K, 1e-7, 1e-5);
    check_close("loss_ce_per_example", per, fix_ce_per, N, 1e-6, 1e-6);
    check_fd("loss_ce_finite_diff", ce_at, grad);

    l = loss_bce_logits(per, grad, fix_loss_logits, fix_loss_targets, N, K);
    CHECK(fabs(l - fix_bce_loss[0]) <= 1e-5 * fabs(fix_bce_loss[0]), "loss_bce_value",
          "%.9g vs torch %.9g", l, fix_bce_loss[0]);
    check_close("loss_bce_grad", grad, fix_bce_grad, N * K, 1e-7, 1e-5);
    double mean = 0;
    for (int n = 0; n < N; n++)
        mean += per[n] / N;
    CHECK(fabs(mean - l) < 1e-6, "loss_bce_per_example_mean", "%g vs %g", mean, l);
    check_fd("loss_bce_finite_diff", bce_at, grad);

    /* Huge logits: finite losses and gradients. */
    float big[2] = {1e30f, -1e30f};
    int32_t lab[1] = {1};
    float t[2] = {0.0f, 1.0f}, g2[2];
    double lc = loss_softmax_ce(NULL, g2, big, lab, 1, 2);
    CHECK(isfinite(lc) && isfinite(g2[0]) && isfinite(g2[1]), "loss_ce_huge_finite", "%g", lc);
    double lb = loss_bce_logits(NULL, g2, big, t, 1, 2);
    CHECK(isfinite(lb) && isfinite(g2[0]) && isfinite(g2[1]), "loss_bce_huge_finite", "%g", lb);
    CHECK(loss_softmax_ce(NULL, NULL, big, lab, 0, 2) == 0.0, "loss_ce_empty_batch", "");
    return check_summary();
}
