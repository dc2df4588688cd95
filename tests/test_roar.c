/* Tests of pipeline/roar: the combined map of several trials (min-max each, element-wise max,
 * constant and non-finite maps), the random baseline's permutation (a permutation, keyed by
 * the example, independent of anything else), the removal count and the removal itself. */
#include <math.h>
#include <string.h>

#include "pipeline/roar.h"
#include "tests/check.h"

static void test_combine(void)
{
    float maps[4 * 4] = {0, 1, 2, 4,       /* -> 0, .25, .5, 1 */
                         10, 10, 10, 10,   /* constant: adds 0 */
                         5, 3, 1, 1,       /* -> 1, .5, 0, 0 */
                         0, NAN, 1, 1},    /* skipped */
          out[4];
    int used = roar_combine(out, maps, 4, 4);
    int ok = used == 3 && out[0] == 1 && out[1] == 0.5f && out[2] == 0.5f && out[3] == 1;
    CHECK(ok, "roar_combine", "used %d: %g %g %g %g", used, out[0], out[1], out[2], out[3]);
    ok = roar_combine(out, maps + 12, 1, 4) == 0 && out[0] == 0;
    CHECK(ok, "roar_combine_nan_only", "");
}

static void test_random(void)
{
    enum { N = 257 };
    uint32_t a[N], b[N], c[N];
    int seen[N] = {0}, ok = 1;
    roar_random_order(a, N, 3, 42);
    roar_random_order(b, N, 3, 42);
    roar_random_order(c, N, 3, 43);
    for (int i = 0; i < N; i++)
        seen[a[i]]++;
    for (int i = 0; i < N; i++)
        ok &= seen[i] == 1;
    CHECK(ok && memcmp(a, b, sizeof a) == 0 && memcmp(a, c, sizeof a) != 0,
          "roar_random_order_permutation", "");
}

static void test_remove(void)
{
    int ok = roar_count(0, 100) == 0 && roar_count(0.1, 4096) == 409 &&
             roar_count(0.9, 10) == 9 && roar_count(1.0, 10) == 10;
    CHECK(ok, "roar_count", "%zu", roar_count(0.1, 4096));
    uint8_t img[4 * 2] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8];
    const uint32_t order[4] = {2, 0, 1, 3};
    const uint8_t fill[2] = {100, 200};
    roar_remove_forward(out, img, order, 2, 4, 2, fill);
    const uint8_t want[8] = {100, 200, 3, 4, 100, 200, 7, 8};
    CHECK(memcmp(out, want, 8) == 0 && img[0] == 1, "roar_remove", "%u %u", out[0], out[4]);
}

int main(void)
{
    test_combine();
    test_random();
    test_remove();
    return check_summary();
}
