/* ROAR's pixel rankings and removal; see roar.h. */
#include "pipeline/roar.h"

#include <math.h>
#include <string.h>

#include "pipeline/rng.h"

int roar_combine(float *out, const float *maps, int n, size_t hw)
{
    int used = 0;
    for (size_t j = 0; j < hw; j++)
        out[j] = 0;
    for (int i = 0; i < n; i++) {
        const float *m = maps + (size_t)i * hw;
        double lo = INFINITY, hi = -INFINITY;
        int finite = 1;
        for (size_t j = 0; j < hw && finite; j++) {
            finite = isfinite(m[j]);
            lo = m[j] < lo ? m[j] : lo;
            hi = m[j] > hi ? m[j] : hi;
        }
        if (!finite) continue;
        used++;
        if (!(hi > lo)) continue;
        for (size_t j = 0; j < hw; j++) {
            float v = (float)(((double)m[j] - lo) / (hi - lo));
            out[j] = v > out[j] ? v : out[j];
        }
    }
    return used;
}

void roar_random_order(uint32_t *order, size_t hw, uint64_t seed, uint64_t example_id)
{
    struct rng r;
    rng_init(&r, seed, example_id, ROAR_RNG_RANDOM);
    for (size_t j = 0; j < hw; j++)
        order[j] = (uint32_t)j;
    for (size_t j = hw; j > 1; j--) {
        uint32_t k = rng_below(&r, (uint32_t)j), t = order[j - 1];
        order[j - 1] = order[k];
        order[k] = t;
    }
}

size_t roar_count(double fraction, size_t hw)
{
    if (!(fraction > 0)) return 0;
    double k = floor(fraction * (double)hw);
    return k >= (double)hw ? hw : (size_t)k;
}

void roar_remove_forward(uint8_t *out, const uint8_t *img, const uint32_t *order, size_t k,
                         size_t hw, int C, const uint8_t *fill)
{
    if (out != img) memcpy(out, img, hw * (size_t)C);
    for (size_t i = 0; i < k && i < hw; i++)
        for (int c = 0; c < C; c++)
            out[(size_t)order[i] * C + c] = fill[c];
}
