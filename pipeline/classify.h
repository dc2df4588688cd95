/* Classification summaries for infer and train: top-1 predictions, confusion matrix and accuracy
 * (single-label), average precision per class and mAP (multi-label), and thresholded counts for
 * exact match and per-class F1. Pure functions on caller buffers; no allocation.
 * Not here: losses (pipeline/loss.h) and reading labels from files (stages). */
#ifndef SALBENCH_CLASSIFY_H
#define SALBENCH_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

/* pred[n] = argmax_k scores[n, k] over [N, K], ties to the lowest k (METHODS.md Part 1); NaN is
 * never chosen unless the whole row is NaN (then 0). */
void classify_argmax(int32_t *pred, const float *scores, size_t N, int K);

/* Output activation on logits [N, K]: softmax over k (sigmoid = 0) or element-wise sigmoid
 * (sigmoid = 1), in double and rounded once; for models without a head layer. */
void classify_probs(float *probs, const float *logits, size_t N, int K, int sigmoid);

/* Adds counts to the confusion matrix cm [K, K] (int64, row = true label, column = predicted),
 * so batches accumulate. Rows with a label outside [0, K) are skipped. */
void classify_confusion_add(int64_t *cm, const int32_t *labels, const int32_t *pred, size_t N,
                            int K);
/* Top-1 accuracy = trace / total of cm; NaN when cm is empty. */
double classify_accuracy(const int64_t *cm, int K);

/* Average precision of one class, as scikit-learn's average_precision_score (the
 * non-interpolated AP, sklearn >= 0.19):
 *   sort examples by score, descending; every distinct score value is one threshold (tied
 *   examples enter together); at threshold i, P_i = TP_i / (TP_i + FP_i), R_i = TP_i / n_pos;
 *   AP = sum_i (R_i - R_{i-1}) * P_i with R_0 = 0.
 * No interpolation (unlike PASCAL VOC's 11-point or all-point interpolated AP).
 * scores: n values with a stride of `stride` floats (a column of an [N, K] array: stride K);
 * truth: n values 0/1 with the same stride. scratch: n elements of struct classify_pair.
 * Returns NaN when the class has no positive example (sklearn returns 0 with a warning;
 * salbench leaves it undefined and out of the mean, METHODS.md Part 1 NaN policy) or when a
 * score is NaN. */
struct classify_pair {
    float score;
    uint8_t truth;
};
double classify_average_precision(const float *scores, const uint8_t *truth, size_t n,
                                  size_t stride, struct classify_pair *scratch);

/* Per-class AP over [N, K] scores and multi-hot truth, ap[K]; returns mAP = mean of the defined
 * (non-NaN) APs, NaN when none is defined; *n_undefined (may be NULL) = classes left out. This
 * is sklearn's average="macro" except that classes without positives are left out. */
double classify_map(double *ap, int *n_undefined, const float *scores, const uint8_t *truth,
                    size_t N, int K, struct classify_pair *scratch);

/* Thresholded multi-label counts: predicted positive iff score >= threshold. Adds per-class
 * tp/fp/fn (int64 [K] each) and *exact (rows whose whole predicted set equals the truth). */
void classify_threshold_add(int64_t *tp, int64_t *fp, int64_t *fn, int64_t *exact,
                            const float *scores, const uint8_t *truth, size_t N, int K,
                            float threshold);
/* F1 = 2 tp / (2 tp + fp + fn); NaN when the denominator is 0. */
double classify_f1(int64_t tp, int64_t fp, int64_t fn);

#endif
