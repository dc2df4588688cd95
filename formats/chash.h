/* Content hashes with XXH3-64 (seed 0): the example_id of a decoded image, hashes of byte
 * buffers, a streaming hasher (used for the content hash of HDF5 files) and hex formatting.
 * Not cryptographic: ids are for joining tables and spotting duplicates, not for security.
 *
 * example_id = XXH3_64bits(header || pixels), where header is 12 bytes: height, width,
 * channels as little-endian uint32, and pixels are the decoded 8-bit HWC samples as read from
 * the source, before any resize or channel conversion. The same image therefore gets the same
 * id from a PNG, an IDX file or an ImageFolder, and `xxhsum -H3` on a file holding those 12+n
 * bytes prints the same value in hex. */
#ifndef SALBENCH_CHASH_H
#define SALBENCH_CHASH_H

#include <stddef.h>
#include <stdint.h>

#define CHASH_NAME "XXH3-64"
#define CHASH_SEED 0

/* example_id of an image of height x width x channels bytes (HWC). */
uint64_t chash_example_id(const uint8_t *pixels, uint32_t height, uint32_t width,
                          uint32_t channels);

/* XXH3-64 (seed 0) of n bytes. */
uint64_t chash_bytes(const void *data, size_t n);

/* 16 lowercase hex digits and a NUL, as xxhsum prints the value. */
void chash_hex(char out[17], uint64_t h);

/* Parses exactly 16 hex digits (either case). Returns 0, or -1 with err_set. */
int chash_parse_hex(uint64_t *h, const char *s);

/* Streaming XXH3-64: chash_new() (NULL on OOM, with err_set), any number of chash_update,
 * chash_digest (may be called at any point, does not end the stream), chash_free (NULL ok).
 * The digest equals chash_bytes over the concatenated input. */
struct chash;
struct chash *chash_new(void);
void chash_update(struct chash *h, const void *data, size_t n);
uint64_t chash_digest(const struct chash *h);
void chash_free(struct chash *h);

#endif
