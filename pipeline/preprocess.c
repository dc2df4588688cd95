/* Normalisation of uint8 images into float NCHW and the flip/shift augmentation; see
 * preprocess.h. OpenMP over examples (normalise) or channels (augment); each thread writes its
 * own slice, so results do not depend on the thread count. */
#include "pipeline/preprocess.h"

#include <stddef.h>
#include <string.h>

#include "pipeline/rng.h"

void preprocess_forward(float *out, const uint8_t *in, const double *mean, const double *std,
                        int N, int H, int W, int C)
{
    const size_t hw = (size_t)H * W;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const uint8_t *src = in + (size_t)n * hw * C;
        float *dst = out + (size_t)n * hw * C;
        for (int c = 0; c < C; c++) {
            const float m = (float)mean[c], s = (float)std[c];
            float *o = dst + (size_t)c * hw;
            for (size_t i = 0; i < hw; i++)
                o[i] = ((float)src[i * C + c] / 255.0f - m) / s;
        }
    }
}

/* Uniform in [0, n) from one 32-bit word (multiply-shift; bias below 2^-28 for n < 16). */
static int below(uint32_t w, uint32_t n)
{
    return (int)(((uint64_t)w * n) >> 32);
}

struct preprocess_aug preprocess_aug_draw(uint64_t seed, uint64_t example_id, uint32_t epoch,
                                          int flip, int max_shift)
{
    uint32_t w[4];
    rng_philox(w, seed, example_id, RNG_AUGMENT, epoch);
    struct preprocess_aug a = {0, 0, 0};
    a.flip = flip ? (int)(w[0] >> 31) : 0;
    if (max_shift > 0) {
        uint32_t span = 2u * (uint32_t)max_shift + 1u;
        a.dy = below(w[1], span) - max_shift;
        a.dx = below(w[2], span) - max_shift;
    }
    return a;
}

void preprocess_augment_forward(float *out, const float *in, const struct preprocess_aug *a,
                                int C, int H, int W)
{
    const size_t hw = (size_t)H * W;
    for (int c = 0; c < C; c++) {
        const float *src = in + (size_t)c * hw;
        float *dst = out + (size_t)c * hw;
        for (int y = 0; y < H; y++) {
            int sy = y - a->dy;
            float *row = dst + (size_t)y * W;
            if (sy < 0 || sy >= H) {
                memset(row, 0, (size_t)W * sizeof *row);
                continue;
            }
            for (int x = 0; x < W; x++) {
                int sx = (a->flip ? W - 1 - x : x) - a->dx;
                row[x] = sx < 0 || sx >= W ? 0.0f : src[(size_t)sy * W + sx];
            }
        }
    }
}
