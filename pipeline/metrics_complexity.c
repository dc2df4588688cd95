/* Gini sparseness and entropy complexity of one map; see metrics_complexity.h. Sums run in
 * double in a fixed order. */
#include "pipeline/metrics_complexity.h"

#include <math.h>
#include <stdint.h>

#include "pipeline/stats.h"

size_t metrics_sparseness_scratch_bytes(size_t n)
{
    return 2 * n * sizeof(uint64_t) + n * sizeof(uint32_t) + n * sizeof(float) + 16;
}

/* max |a| over the map, or -1 when a value is not finite. */
static float max_abs(const float *map, size_t n)
{
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(map[i])) return -1;
        float a = fabsf(map[i]);
        if (a > m) m = a;
    }
    return m;
}

double metrics_sparseness(const float *map, size_t n, void *scratch)
{
    float m = max_abs(map, n);
    if (n == 0 || !(m > 0)) return NAN;
    uint64_t *keys = scratch;
    uint32_t *order = (uint32_t *)(keys + 2 * n);
    float *b = (float *)(order + n);
    for (size_t i = 0; i < n; i++)
        b[i] = fabsf(map[i]) / m;            /* float32 division, as Quantus' normalise_by_max */
    stats_order_desc_f32(order, b, n, keys); /* d_1 >= d_2 >= ... */
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++)
        den += (double)b[order[i]] + 1e-7;
    /* Ascending b_(i) = d_(n+1-i): pair i with n+1-i, weight n + 1 - 2i (1-based i). */
    for (size_t i = 0; i < n / 2; i++) {
        double hi = (double)b[order[i]] + 1e-7, lo = (double)b[order[n - 1 - i]] + 1e-7;
        num += (double)(n - 1 - 2 * i) * (hi - lo);
    }
    return num / ((double)n * den);
}

double metrics_complexity(const float *map, size_t n)
{
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(map[i])) return NAN;
        total += fabs((double)map[i]);
    }
    if (!(total > 0)) return NAN;
    double h = 0;
    for (size_t i = 0; i < n; i++) {
        double p = fabs((double)map[i]) / total;
        if (p > 0) h -= p * log(p);
    }
    return h;
}
