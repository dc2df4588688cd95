/* Softmax cross-entropy and BCE-with-logits with gradients; see loss.h. Double precision inside
 * each example, examples summed in order (cheap next to the network: serial, deterministic). */
#include "pipeline/loss.h"

#include <math.h>
#include <stddef.h>

#include "pipeline/err.h"

double loss_softmax_ce(float *loss, float *dlogits, const float *logits, const int32_t *labels,
                       int N, int K)
{
    SB_ASSERT(N >= 0 && K >= 1);
    double total = 0;
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * K;
        int y = labels[n];
        SB_ASSERT(y >= 0 && y < K);
        double m = x[0];
        for (int k = 1; k < K; k++)
            if (x[k] > m) m = x[k];
        double s = 0;
        for (int k = 0; k < K; k++)
            s += exp((double)x[k] - m);
        double lse = m + log(s);
        double l = lse - (double)x[y];
        if (loss) loss[n] = (float)l;
        total += l;
        if (dlogits) {
            float *d = dlogits + (size_t)n * K;
            for (int k = 0; k < K; k++) {
                double p = exp((double)x[k] - lse);
                d[k] = (float)((p - (k == y ? 1.0 : 0.0)) / N);
            }
        }
    }
    return N > 0 ? total / N : 0.0;
}

double loss_bce_logits(float *loss, float *dlogits, const float *logits, const float *targets,
                       int N, int K)
{
    SB_ASSERT(N >= 0 && K >= 1);
    double total = 0, scale = 1.0 / ((double)N * K);
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * K;
        const float *t = targets + (size_t)n * K;
        double row = 0;
        for (int k = 0; k < K; k++) {
            double v = x[k], tk = t[k];
            row += (v > 0 ? v : 0) - v * tk + log1p(exp(-fabs(v)));
            if (dlogits) {
                /* sigmoid in the form that never overflows exp */
                double sig = v >= 0 ? 1.0 / (1.0 + exp(-v)) : exp(v) / (1.0 + exp(v));
                dlogits[(size_t)n * K + k] = (float)((sig - tk) * scale);
            }
        }
        if (loss) loss[n] = (float)(row / K);
        total += row;
    }
    return N > 0 ? total * scale : 0.0;
}
