/* Accuracy, confusion matrix, sklearn-style average precision and thresholded multi-label
 * counts; see classify.h for the exact definitions. Serial and exact (integer counts, AP summed
 * in a fixed order), so results do not depend on threads. */
#include "pipeline/classify.h"

#include <math.h>
#include <stdlib.h>

void classify_argmax(int32_t *pred, const float *scores, size_t N, int K)
{
    for (size_t n = 0; n < N; n++) {
        const float *s = scores + n * (size_t)K;
        int best = -1;
        for (int k = 0; k < K; k++)
            if (!isnan(s[k]) && (best < 0 || s[k] > s[best])) best = k;
        pred[n] = best < 0 ? 0 : best;
    }
}

void classify_probs(float *probs, const float *logits, size_t N, int K, int sigmoid)
{
    for (size_t n = 0; n < N; n++) {
        const float *z = logits + n * (size_t)K;
        float *p = probs + n * (size_t)K;
        if (sigmoid) {
            for (int k = 0; k < K; k++)
                p[k] = (float)(z[k] >= 0 ? 1.0 / (1.0 + exp(-(double)z[k]))
                                         : exp((double)z[k]) / (1.0 + exp((double)z[k])));
            continue;
        }
        double m = z[0], s = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > m) m = z[k];
        for (int k = 0; k < K; k++)
            s += exp((double)z[k] - m);
        for (int k = 0; k < K; k++)
            p[k] = (float)(exp((double)z[k] - m) / s);
    }
}

void classify_confusion_add(int64_t *cm, const int32_t *labels, const int32_t *pred, size_t N,
                            int K)
{
    for (size_t n = 0; n < N; n++) {
        if (labels[n] < 0 || labels[n] >= K || pred[n] < 0 || pred[n] >= K) continue;
        cm[(size_t)labels[n] * K + pred[n]]++;
    }
}

double classify_accuracy(const int64_t *cm, int K)
{
    int64_t hit = 0, total = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            total += cm[(size_t)i * K + j];
            if (i == j) hit += cm[(size_t)i * K + j];
        }
    return total ? (double)hit / (double)total : NAN;
}

/* Descending by score; ties in any order (a tie is one threshold below). */
static int pair_desc(const void *a, const void *b)
{
    float x = ((const struct classify_pair *)a)->score;
    float y = ((const struct classify_pair *)b)->score;
    return (x < y) - (x > y);
}

double classify_average_precision(const float *scores, const uint8_t *truth, size_t n,
                                  size_t stride, struct classify_pair *scratch)
{
    size_t npos = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(scores[i * stride])) return NAN;
        scratch[i].score = scores[i * stride];
        scratch[i].truth = truth[i * stride] ? 1 : 0;
        npos += scratch[i].truth;
    }
    if (npos == 0) return NAN;
    qsort(scratch, n, sizeof *scratch, pair_desc);
    double ap = 0, prev_recall = 0;
    size_t tp = 0, fp = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i; /* the group of examples tied at this score is one threshold */
        for (; j < n && scratch[j].score == scratch[i].score; j++) {
            tp += scratch[j].truth;
            fp += 1u - scratch[j].truth;
        }
        double recall = (double)tp / (double)npos;
        ap += (recall - prev_recall) * ((double)tp / (double)(tp + fp));
        prev_recall = recall;
        i = j;
    }
    return ap;
}

double classify_map(double *ap, int *n_undefined, const float *scores, const uint8_t *truth,
                    size_t N, int K, struct classify_pair *scratch)
{
    double sum = 0;
    int defined = 0;
    for (int k = 0; k < K; k++) {
        ap[k] = classify_average_precision(scores + k, truth + k, N, (size_t)K, scratch);
        if (!isnan(ap[k])) {
            sum += ap[k];
            defined++;
        }
    }
    if (n_undefined) *n_undefined = K - defined;
    return defined ? sum / defined : NAN;
}

void classify_threshold_add(int64_t *tp, int64_t *fp, int64_t *fn, int64_t *exact,
                            const float *scores, const uint8_t *truth, size_t N, int K,
                            float threshold)
{
    for (size_t n = 0; n < N; n++) {
        int same = 1;
        for (int k = 0; k < K; k++) {
            int p = scores[n * (size_t)K + k] >= threshold;
            int t = truth[n * (size_t)K + k] != 0;
            tp[k] += p && t;
            fp[k] += p && !t;
            fn[k] += !p && t;
            if (p != t) same = 0;
        }
        *exact += same;
    }
}

double classify_f1(int64_t tp, int64_t fp, int64_t fn)
{
    int64_t d = 2 * tp + fp + fn;
    return d ? 2.0 * (double)tp / (double)d : NAN;
}
