/* XXH3-64 content hashes; see chash.h. The one place that includes xxhash.h, header-only
 * (XXH_INLINE_ALL), so the library's exact version is compiled in. */
#include "formats/chash.h"

#include "pipeline/err.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

struct chash {
    XXH3_state_t *state;
};

uint64_t chash_example_id(const uint8_t *pixels, uint32_t height, uint32_t width,
                          uint32_t channels)
{
    uint8_t header[12];
    const uint32_t v[3] = {height, width, channels};
    for (int i = 0; i < 3; i++)
        for (int b = 0; b < 4; b++)
            header[4 * i + b] = (uint8_t)(v[i] >> (8 * b));
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, header, sizeof header);
    XXH3_64bits_update(&st, pixels, (size_t)height * width * channels);
    return XXH3_64bits_digest(&st);
}

uint64_t chash_bytes(const void *data, size_t n)
{
    return XXH3_64bits(data, n);
}

void chash_hex(char out[17], uint64_t h)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = digits[h & 15];
        h >>= 4;
    }
    out[16] = '\0';
}

int chash_parse_hex(uint64_t *h, const char *s)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return err_set("cannot parse hash '%s': expected 16 hex digits", s);
        v = v << 4 | (uint64_t)d;
    }
    if (s[16] != '\0') return err_set("cannot parse hash '%s': expected 16 hex digits", s);
    *h = v;
    return 0;
}

struct chash *chash_new(void)
{
    struct chash *h = malloc(sizeof *h);
    if (h) h->state = XXH3_createState();
    if (!h || !h->state) {
        free(h);
        err_set("cannot create hash state: out of memory");
        return NULL;
    }
    XXH3_64bits_reset(h->state);
    return h;
}

void chash_update(struct chash *h, const void *data, size_t n)
{
    XXH3_64bits_update(h->state, data, n);
}

uint64_t chash_digest(const struct chash *h)
{
    return XXH3_64bits_digest(h->state);
}

void chash_free(struct chash *h)
{
    if (!h) return;
    XXH3_freeState(h->state);
    free(h);
}
