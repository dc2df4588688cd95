/* chash known answers against the xxhsum CLI (`xxhsum -H3` on a file with the same bytes),
 * the example_id layout, hex round trip and streaming = one-shot. */
#include "formats/chash.h"
#include "pipeline/err.h"
#include "tests/check.h"

#include <string.h>
#include <unistd.h>

/* Runs `xxhsum -H3 path` and parses the hex digest; -1 when the CLI is missing. */
static int chash_test_xxhsum(const char *path, uint64_t *h)
{
    char cmd[512], line[512];
    snprintf(cmd, sizeof cmd, "xxhsum -H3 '%s' 2>/dev/null", path);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char *ok = fgets(line, sizeof line, p);
    int rc = pclose(p);
    if (!ok || rc != 0) return -1;
    /* "XXH3 (path) = 0123456789abcdef" (0.8.1) or "0123456789abcdef  path" (BSD/GNU style) */
    char *eq = strstr(line, "= ");
    const char *hex = eq ? eq + 2 : line;
    char buf[17];
    memcpy(buf, hex, 16);
    buf[16] = '\0';
    return chash_parse_hex(h, buf);
}

static int chash_test_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) || w != n ? -1 : 0;
}

int main(void)
{
    char dir[] = "/tmp/test_chash.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[256];
    snprintf(path, sizeof path, "%s/bytes", dir);

    /* example_id of a 3x5x3 image against xxhsum on header || pixels. */
    uint8_t img[3 * 5 * 3], file[12 + sizeof img];
    for (size_t i = 0; i < sizeof img; i++)
        img[i] = (uint8_t)(i * 37 + 11);
    const uint8_t header[12] = {3, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0};
    memcpy(file, header, 12);
    memcpy(file + 12, img, sizeof img);
    uint64_t want = 0;
    int have_cli = chash_test_write(path, file, sizeof file) == 0 &&
                   chash_test_xxhsum(path, &want) == 0;
    CHECK(have_cli, "chash_xxhsum_cli_available", "xxhsum -H3 did not run (package xxhash)");
    uint64_t id = chash_example_id(img, 3, 5, 3);
    CHECK(have_cli && id == want, "chash_example_id_matches_xxhsum", "got %016llx want %016llx",
          (unsigned long long)id, (unsigned long long)want);
    CHECK(chash_bytes(file, sizeof file) == id, "chash_example_id_is_header_plus_pixels",
          "bytes hash differs from example_id");
    CHECK(chash_example_id(img, 5, 3, 3) != id, "chash_example_id_depends_on_shape",
          "5x3 and 3x5 images with the same bytes share an id");

    /* Generic bytes: empty input and a larger buffer, against the CLI. */
    static uint8_t big[100003];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)((i * 2654435761u) >> 13);
    uint64_t want_big = 0, want_empty = 0;
    chash_test_write(path, big, sizeof big);
    int ok_big = chash_test_xxhsum(path, &want_big) == 0;
    chash_test_write(path, big, 0);
    int ok_empty = chash_test_xxhsum(path, &want_empty) == 0;
    CHECK(ok_big && chash_bytes(big, sizeof big) == want_big, "chash_bytes_matches_xxhsum",
          "100003 bytes: got %016llx want %016llx", (unsigned long long)chash_bytes(big, sizeof big),
          (unsigned long long)want_big);
    CHECK(ok_empty && chash_bytes(big, 0) == want_empty && want_empty == 0x2d06800538d394c2ull,
          "chash_bytes_empty_known_answer", "got %016llx", (unsigned long long)chash_bytes(big, 0));

    /* Streaming in uneven pieces equals one shot. */
    struct chash *h = chash_new();
    size_t pos = 0, step = 1;
    while (pos < sizeof big) {
        size_t n = step < sizeof big - pos ? step : sizeof big - pos;
        chash_update(h, big + pos, n);
        pos += n;
        step = step * 3 + 1;
    }
    CHECK(chash_digest(h) == chash_bytes(big, sizeof big), "chash_stream_equals_oneshot",
          "streamed digest differs");
    chash_free(h);
    chash_free(NULL);

    /* Hex round trip and parse errors. */
    char hex[17];
    uint64_t back = 0;
    chash_hex(hex, 0x0123456789abcdefull);
    CHECK(strcmp(hex, "0123456789abcdef") == 0, "chash_hex_format", "got %s", hex);
    CHECK(chash_parse_hex(&back, "0123456789ABCDEF") == 0 && back == 0x0123456789abcdefull,
          "chash_parse_hex_roundtrip", "got %016llx", (unsigned long long)back);
    CHECK(chash_parse_hex(&back, "0123") == -1 && strstr(err_msg(), "16 hex digits"),
          "chash_parse_hex_rejects_short", "msg '%s'", err_msg());
    CHECK(chash_parse_hex(&back, "0123456789abcdefg") == -1, "chash_parse_hex_rejects_long",
          "accepted 17 digits");

    unlink(path);
    rmdir(dir);
    return check_summary();
}
