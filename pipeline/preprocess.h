/* Model input preparation: uint8 HWC images -> float NCHW normalised with the model's per-channel
 * mean/std (torchvision ToTensor + Normalize), and the light training augmentation (random
 * horizontal flip and shift) with its draws keyed by (seed, example_id, RNG_AUGMENT, epoch).
 * Pure kernels on caller buffers. Not here: resizing (pipeline/image.h, done by load). */
#ifndef SALBENCH_PREPROCESS_H
#define SALBENCH_PREPROCESS_H

#include <stdint.h>

/* out [N, C, H, W] float, in [N, H, W, C] uint8:
 *   out[n,c,y,x] = (in[n,y,x,c] / 255 - mean[c]) / std[c]
 * in float32 with torchvision's operation order (divide, subtract, divide). */
void preprocess_forward(float *out, const uint8_t *in, const double *mean, const double *std,
                        int N, int H, int W, int C);

/* One example's augmentation: mirror (flip) then translate by (dy, dx) pixels. */
struct preprocess_aug {
    int flip, dy, dx;
};

/* The draw for one example in one epoch: flip with probability 1/2 when `flip` is set, dy and
 * dx uniform in [-max_shift, max_shift]; one Philox block at counter (example_id,
 * RNG_AUGMENT, epoch) under key seed, so it depends on nothing else. */
struct preprocess_aug preprocess_aug_draw(uint64_t seed, uint64_t example_id, uint32_t epoch,
                                          int flip, int max_shift);

/* out [C, H, W], in [C, H, W] (one example, out != in):
 *   out[c,y,x] = in[c, y - dy, xs - dx] with xs = W-1-x when flipped else x;
 * 0 where the source falls outside the image (0 is the mean colour after normalisation). */
void preprocess_augment_forward(float *out, const float *in, const struct preprocess_aug *a,
                                int C, int H, int W);

#endif
