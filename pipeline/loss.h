/* Classification losses on logits, with their gradients: softmax cross-entropy (single-label)
 * and binary cross-entropy with logits (multi-label). Both are computed in double precision in
 * the numerically stable forms PyTorch uses, so huge logits give finite losses and gradients.
 * Not here: the output heads used at inference (the engine's softmax/sigmoid layers). */
#ifndef SALBENCH_LOSS_H
#define SALBENCH_LOSS_H

#include <stdint.h>

/* Softmax cross-entropy, torch.nn.CrossEntropyLoss(reduction="mean"):
 *   loss_n = logsumexp_k(x[n,k]) - x[n, y_n],  loss = (1/N) sum_n loss_n
 *   dlogits[n,k] = (softmax(x[n])_k - [k == y_n]) / N
 * logits [N, K], labels [N] each in [0, K) (checked by SB_ASSERT: the caller validates data).
 * Outputs may be NULL: loss [N] per-example losses, dlogits [N, K] (overwritten, not added).
 * Returns the mean loss, summed in example order (deterministic). */
double loss_softmax_ce(float *loss, float *dlogits, const float *logits, const int32_t *labels,
                       int N, int K);

/* Binary cross-entropy with logits, torch.nn.BCEWithLogitsLoss(reduction="mean"), averaged over
 * all N*K elements:
 *   l[n,k] = max(x, 0) - x*t + log1p(exp(-|x|)),   loss = (1/(N*K)) sum l
 *   dlogits[n,k] = (sigmoid(x) - t) / (N*K)
 * logits [N, K], targets [N, K] in [0, 1] (multi-hot). Outputs may be NULL: loss [N] per-example
 * sums over k divided by K (so their mean is the returned loss), dlogits [N, K] (overwritten).
 * Returns the mean loss. */
double loss_bce_logits(float *loss, float *dlogits, const float *logits, const float *targets,
                       int N, int K);

#endif
