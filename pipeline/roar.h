/* ROAR, remove and retrain (Hooker et al. 2019; METHODS.md Part 1 and §6.2): the per-example
 * pixel ranking that decides what is removed (from the method's maps, or random for the
 * baseline) and the removal itself on 8-bit images. Pure functions on caller buffers; no
 * allocation. Not here: retraining and evaluation (pipeline/trainer.h, driven by bin/roar).
 *
 * Our choices, recorded by bin/roar: pixels (all channels together) are ranked, as in the
 * deletion metric, rather than the official code's per-element ranking; an example with several
 * trials (multi-label) is ranked by the element-wise maximum of its trials' maps, each min-max
 * normalised to [0, 1] first, so the evidence for every class present is removed; removed
 * pixels take the per-channel training-set mean colour. */
#ifndef SALBENCH_ROAR_H
#define SALBENCH_ROAR_H

#include <stddef.h>
#include <stdint.h>

/* RNG purpose of the random-removal baseline's pixel order (beside perturb.h's 0x53xx and
 * saliency.h's 0x54xx; moving it into rng.h is requested). */
#define ROAR_RNG_RANDOM 0x5501u

/* out[hw] = max over the n maps[n, hw] of (map - min) / (max - min); a constant map adds 0,
 * a map with a non-finite value is skipped. Returns how many maps were used. */
int roar_combine(float *out, const float *maps, int n, size_t hw);

/* order[hw]: a uniformly random permutation of the pixels (Fisher-Yates on the stream (seed,
 * example_id, ROAR_RNG_RANDOM)), the same for any fraction, so removals are nested. */
void roar_random_order(uint32_t *order, size_t hw, uint64_t seed, uint64_t example_id);

/* Pixels removed at `fraction` of hw: floor(fraction * hw), as the official top-k count. */
size_t roar_count(double fraction, size_t hw);

/* out[hw, C] = img[hw, C] (HWC uint8) with the first k pixels of order[hw] set to fill[C]
 * in every channel. out may equal img. */
void roar_remove_forward(uint8_t *out, const uint8_t *img, const uint32_t *order, size_t k,
                         size_t hw, int C, const uint8_t *fill);

#endif
