/* Tests of pipeline/classify: AP per class and macro mAP against scikit-learn 1.2
 * (average_precision_score, tests/ref/train_fixtures.h, scores with many ties), hand cases for
 * AP, argmax ties, confusion matrix, accuracy and thresholded F1 / exact match. */
#include <math.h>
#include <string.h>

#include "pipeline/classify.h"
#include "tests/check.h"
#include "tests/ref/train_fixtures.h"

static void test_ap_sklearn(void)
{
    struct classify_pair scratch[FIX_AP_N];
    double ap[FIX_AP_K];
    int undef = -1;
    double m = classify_map(ap, &undef, fix_ap_scores, fix_ap_truth, FIX_AP_N, FIX_AP_K, scratch);
    int ok = 1;
    for (int k = 0; k < FIX_AP_K; k++)
        ok &= fabs(ap[k] - fix_ap_per_class[k]) < 1e-12;
    CHECK(ok, "classify_ap_vs_sklearn", "ap[0] %.15g vs %.15g", ap[0], fix_ap_per_class[0]);
    CHECK(fabs(m - fix_ap_macro[0]) < 1e-12 && undef == 0, "classify_map_vs_sklearn",
          "%.15g vs %.15g (undefined %d)", m, fix_ap_macro[0], undef);
}

static void test_ap_hand(void)
{
    struct classify_pair scratch[4];
    /* Ranked 0.9(+) 0.8(-) 0.7(+) 0.1(-): AP = 0.5*1 + 0.5*(2/3). */
    float s[4] = {0.1f, 0.7f, 0.9f, 0.8f};
    uint8_t t[4] = {0, 1, 1, 0};
    double ap = classify_average_precision(s, t, 4, 1, scratch);
    CHECK(fabs(ap - (0.5 + 1.0 / 3.0)) < 1e-15, "classify_ap_hand", "%.17g", ap);
    /* All tied: one threshold, AP = precision = 2/4. */
    float tie[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    ap = classify_average_precision(tie, t, 4, 1, scratch);
    CHECK(fabs(ap - 0.5) < 1e-15, "classify_ap_all_tied", "%.17g", ap);
    uint8_t none[4] = {0, 0, 0, 0};
    CHECK(isnan(classify_average_precision(s, none, 4, 1, scratch)), "classify_ap_no_positive",
          "expected NaN");
    float withnan[4] = {0.1f, NAN, 0.2f, 0.3f};
    CHECK(isnan(classify_average_precision(withnan, t, 4, 1, scratch)), "classify_ap_nan_score",
          "expected NaN");
    /* A class with no positives is left out of the mean. */
    float s2[8] = {0.9f, 0.1f, 0.2f, 0.3f, 0.8f, 0.4f, 0.1f, 0.2f}; /* [4, 2] */
    uint8_t t2[8] = {1, 0, 0, 0, 1, 0, 0, 0};
    double ap2[2];
    int undef = 0;
    double m = classify_map(ap2, &undef, s2, t2, 4, 2, scratch);
    CHECK(undef == 1 && isnan(ap2[1]) && fabs(m - 1.0) < 1e-15, "classify_map_undefined_class",
          "m %g undefined %d", m, undef);
}

static void test_single_label(void)
{
    float s[12] = {1, 3, 3, 0, 0, 5, 2, 2, 2, NAN, NAN, NAN}; /* [4, 3] */
    int32_t pred[4], labels[4] = {1, 2, 1, 0};
    classify_argmax(pred, s, 4, 3);
    CHECK(pred[0] == 1 && pred[1] == 2 && pred[2] == 0 && pred[3] == 0, "classify_argmax_ties",
          "%d %d %d %d", pred[0], pred[1], pred[2], pred[3]);
    int64_t cm[9] = {0};
    classify_confusion_add(cm, labels, pred, 4, 3);
    int32_t bad[1] = {-1}, p1[1] = {0};
    classify_confusion_add(cm, bad, p1, 1, 3); /* skipped */
    CHECK(cm[1 * 3 + 1] == 1 && cm[2 * 3 + 2] == 1 && cm[1 * 3 + 0] == 1 && cm[0] == 1,
          "classify_confusion", "cm %lld %lld %lld", (long long)cm[4], (long long)cm[8],
          (long long)cm[3]);
    CHECK(fabs(classify_accuracy(cm, 3) - 0.75) < 1e-15, "classify_accuracy", "%g",
          classify_accuracy(cm, 3));
    int64_t empty[4] = {0};
    CHECK(isnan(classify_accuracy(empty, 2)), "classify_accuracy_empty", "expected NaN");
}

static void test_threshold(void)
{
    float s[6] = {0.9f, 0.2f, 0.5f, 0.4f, 0.6f, 0.1f}; /* [3, 2] */
    uint8_t t[6] = {1, 0, 1, 1, 0, 0};
    int64_t tp[2] = {0}, fp[2] = {0}, fn[2] = {0}, exact = 0;
    classify_threshold_add(tp, fp, fn, &exact, s, t, 3, 2, 0.5f);
    CHECK(tp[0] == 2 && fp[0] == 1 && fn[0] == 0 && tp[1] == 0 && fn[1] == 1 && exact == 1,
          "classify_threshold_counts", "tp %lld fp %lld fn %lld exact %lld", (long long)tp[0],
          (long long)fp[0], (long long)fn[0], (long long)exact);
    CHECK(fabs(classify_f1(2, 1, 0) - 0.8) < 1e-15 && isnan(classify_f1(0, 0, 0)),
          "classify_f1", "%g", classify_f1(2, 1, 0));
}

static void test_probs(void)
{
    float z[6] = {1000.0f, 0.0f, -1000.0f, 0.5f, 0.5f, -2.0f}, p[6], q[6];
    classify_probs(p, z, 2, 3, 0);
    double want = 1.0 / (2.0 + exp(-2.5));
    CHECK(p[0] == 1.0f && p[1] == 0.0f && fabsf(p[3] - (float)want) < 1e-7f &&
              fabsf(p[3] + p[4] + p[5] - 1.0f) < 1e-6f,
          "classify_probs_softmax", "%g %g %g", p[3], p[4], p[5]);
    classify_probs(q, z, 2, 3, 1);
    CHECK(q[0] == 1.0f && q[1] == 0.5f && q[2] == 0.0f &&
              fabs(q[5] - 1.0 / (1.0 + exp(2.0))) < 1e-7,
          "classify_probs_sigmoid", "%g %g %g", q[0], q[1], q[5]);
}

int main(void)
{
    test_probs();
    test_ap_sklearn();
    test_ap_hand();
    test_single_label();
    test_threshold();
    return check_summary();
}
