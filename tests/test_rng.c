/* Philox known-answer test and the independence-from-order property the pipeline relies on. */
#include "pipeline/rng.h"
#include "tests/check.h"

int main(void)
{
    /* Known answer from the Random123 distribution (kat_vectors): philox4x32_10 with counter
     * {0,0,0,0} and key {0,0} gives 6627e8d5 e169c58d bc57ac4c 9b00dbd8. */
    uint32_t out[4];
    rng_philox(out, 0, 0, 0, 0);
    CHECK(out[0] == 0x6627e8d5u && out[1] == 0xe169c58du && out[2] == 0xbc57ac4cu &&
              out[3] == 0x9b00dbd8u,
          "rng_philox_known_answer_zero", "got %08x %08x %08x %08x", out[0], out[1], out[2],
          out[3]);

    /* A stream's k-th draw equals the k-th word of the counter blocks, whatever came before. */
    struct rng a, b;
    rng_init(&a, 42, 7, RNG_NOISE);
    for (int i = 0; i < 9; i++)
        rng_u32(&a);
    rng_philox(out, 42, 7, RNG_NOISE, 2);
    CHECK(rng_u32(&a) == out[1], "rng_stream_walks_counter", "10th draw is not block 2 word 1");

    rng_init(&a, 1, 2, RNG_MASKS);
    rng_init(&b, 1, 3, RNG_MASKS);
    CHECK(rng_u64(&a) != rng_u64(&b), "rng_example_ids_independent", "same draw for ids 2, 3");

    double sum = 0, sq = 0;
    int below_ok = 1;
    rng_init(&a, 5, 0, RNG_NOISE);
    for (int i = 0; i < 100000; i++) {
        double z = rng_normal(&a);
        sum += z;
        sq += z * z;
        if (rng_below(&a, 7) >= 7) below_ok = 0;
        float u = rng_uniform(&a);
        if (!(u >= 0.0f && u < 1.0f)) below_ok = 0;
    }
    CHECK(fabs(sum / 1e5) < 0.02 && fabs(sq / 1e5 - 1) < 0.02, "rng_normal_moments",
          "mean %g var %g", sum / 1e5, sq / 1e5);
    CHECK(below_ok, "rng_ranges", "rng_below or rng_uniform out of range");
    return check_summary();
}
