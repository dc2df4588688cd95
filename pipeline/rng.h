/* Counter-based random numbers: every draw is a pure function of (seed, example_id, purpose,
 * index), so results never depend on batch size, thread count, shard or processing order.
 * The generator is Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
 * 3", SC'11): key = seed, counter = (example_id, purpose, index). No global state. */
#ifndef SALBENCH_RNG_H
#define SALBENCH_RNG_H

#include <stdint.h>

/* What a draw is for; keeps streams of different uses independent. Append only: the values
 * are part of the reproducibility contract. */
enum rng_purpose {
    RNG_SHUFFLE = 1,
    RNG_INIT = 2,
    RNG_NOISE = 3,
    RNG_MASKS = 4,
    RNG_ATTACK = 5,
    RNG_BOOTSTRAP = 6,
    RNG_SCENES = 7,
    RNG_RANDOM_MAP = 8,
    RNG_SPLIT = 9,
    RNG_DROPOUT = 10,
    RNG_METRIC_SUBSET = 11,
    RNG_INFIDELITY = 12,
    RNG_SENSITIVITY = 13,
    RNG_RANDOM_LOGIT = 14,
    RNG_AUGMENT = 15,
    RNG_SANITY = 16,
};

/* Four 32-bit words for one counter value. */
void rng_philox(uint32_t out[4], uint64_t seed, uint64_t example_id, uint32_t purpose,
                uint32_t index);

/* A stream: successive draws walk `index`, each Philox block giving four 32-bit words. */
struct rng {
    uint64_t seed, example_id;
    uint32_t purpose, index;
    uint32_t block[4];
    int used; /* words of `block` already consumed (4 = need a new block) */
};

void rng_init(struct rng *r, uint64_t seed, uint64_t example_id, uint32_t purpose);
/* A stream that starts at counter `index` (sub-streams: put a sample number in the purpose's
 * high 16 bits, or start far along the counter). */
void rng_init_at(struct rng *r, uint64_t seed, uint64_t example_id, uint32_t purpose,
                 uint32_t index);
uint32_t rng_u32(struct rng *r);
uint64_t rng_u64(struct rng *r);
/* Uniform in [0, 1) with 24 random bits (every value exactly representable as a float). */
float rng_uniform(struct rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform_f64(struct rng *r);
/* Uniform integer in [0, n), unbiased (Lemire's method with rejection). n > 0. */
uint32_t rng_below(struct rng *r, uint32_t n);
/* Standard normal (Box-Muller on two 53-bit uniforms; deterministic, no caching). */
double rng_normal(struct rng *r);

#endif
