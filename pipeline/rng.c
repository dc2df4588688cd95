/* Philox4x32-10 counter-based generator; see rng.h. Constants from Salmon et al. (SC'11). */
#include "pipeline/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static void philox_round(uint32_t ctr[4], const uint32_t key[2])
{
    uint64_t p0 = (uint64_t)PHILOX_M0 * ctr[0];
    uint64_t p1 = (uint64_t)PHILOX_M1 * ctr[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    ctr[0] = hi1 ^ ctr[1] ^ key[0];
    ctr[1] = lo1;
    ctr[2] = hi0 ^ ctr[3] ^ key[1];
    ctr[3] = lo0;
}

void rng_philox(uint32_t out[4], uint64_t seed, uint64_t example_id, uint32_t purpose,
                uint32_t index)
{
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t ctr[4] = {(uint32_t)example_id, (uint32_t)(example_id >> 32), purpose, index};
    for (int i = 0; i < 10; i++) {
        philox_round(ctr, key);
        key[0] += PHILOX_W0;
        key[1] += PHILOX_W1;
    }
    for (int i = 0; i < 4; i++)
        out[i] = ctr[i];
}

void rng_init(struct rng *r, uint64_t seed, uint64_t example_id, uint32_t purpose)
{
    r->seed = seed;
    r->example_id = example_id;
    r->purpose = purpose;
    r->index = 0;
    r->used = 4;
}

void rng_init_at(struct rng *r, uint64_t seed, uint64_t example_id, uint32_t purpose,
                 uint32_t index)
{
    rng_init(r, seed, example_id, purpose);
    r->index = index;
}

uint32_t rng_u32(struct rng *r)
{
    if (r->used == 4) {
        rng_philox(r->block, r->seed, r->example_id, r->purpose, r->index++);
        r->used = 0;
    }
    return r->block[r->used++];
}

uint64_t rng_u64(struct rng *r)
{
    uint64_t hi = rng_u32(r);
    return (hi << 32) | rng_u32(r);
}

float rng_uniform(struct rng *r)
{
    return (float)(rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

double rng_uniform_f64(struct rng *r)
{
    return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

uint32_t rng_below(struct rng *r, uint32_t n)
{
    uint64_t m = (uint64_t)rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double rng_normal(struct rng *r)
{
    double u1 = rng_uniform_f64(r), u2 = rng_uniform_f64(r);
    /* 1 - u1 lies in (0, 1], so the log is finite. */
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}
