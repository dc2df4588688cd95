/* Shared by the fuzz harnesses tests/fuzz/fuzz_<target>.c: invariant checks, a private scratch
 * directory, whole-file writes and tree removal. Each harness defines
 * `int fuzz_<target>(const uint8_t *data, size_t size)` and, unless FUZZ_NO_MAIN is defined,
 * libFuzzer's LLVMFuzzerTestOneInput calling it. tests/test_fuzz_regressions.c defines
 * FUZZ_NO_MAIN and includes every harness, so harness statics carry a per-target prefix.
 * Test-only code: it may print to stderr (only when an invariant breaks). */
#ifndef SALBENCH_FUZZ_H
#define SALBENCH_FUZZ_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/err.h"

/* Broken invariants: abort (a libFuzzer crash) when fuzzing, counted when replaying. */
#ifdef FUZZ_NO_MAIN
static int fuzz_failures;
#endif

static inline void fuzz_fail_at(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz invariant failed: %s (last error: %s)\n", file, line, what,
            err_msg());
#ifdef FUZZ_NO_MAIN
    fuzz_failures++;
#else
    abort();
#endif
}

#define FUZZ_CHECK(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) fuzz_fail_at(__FILE__, __LINE__, #cond);                                  \
    } while (0)

/* A failed call must leave a "cannot ..." message naming the input. (File names from the input
 * may hold any byte but '/' and NUL, newlines included, so the message is not checked for
 * being one line.) */
static inline int fuzz_msg_ok(const char *prefix)
{
    return strncmp(err_msg(), prefix, strlen(prefix)) == 0;
}

/* Removes a file or a directory tree (symlinks are removed, never followed). */
static inline void fuzz_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st)) return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0700);
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            size_t n = strlen(path) + strlen(e->d_name) + 2;
            char *p = malloc(n);
            if (!p) break;
            snprintf(p, n, "%s/%s", path, e->d_name);
            fuzz_rmtree(p);
            free(p);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static char fuzz_dir_path[512];

static inline void fuzz_dir_cleanup(void)
{
    if (fuzz_dir_path[0]) fuzz_rmtree(fuzz_dir_path);
    fuzz_dir_path[0] = '\0';
}

/* Removes salbench-fuzz.<pid> directories of processes that are gone (a crash aborts before
 * atexit runs). */
static inline void fuzz_dir_sweep(const char *base)
{
    DIR *d = opendir(base);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, "salbench-fuzz.", 14)) continue;
        long pid = strtol(e->d_name + 14, &end, 10);
        if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", base, e->d_name);
        fuzz_rmtree(p);
    }
    if (d) closedir(d);
}

/* A private directory for this process, "<base>/salbench-fuzz.<pid>" with base $FUZZ_TMPDIR,
 * else /dev/shm when writable (file I/O stays in memory), else $TMPDIR or /tmp. Removed at
 * exit; ones left by crashed processes are removed by the next harness to start. */
static inline const char *fuzz_dir(void)
{
    if (fuzz_dir_path[0]) return fuzz_dir_path;
    struct stat st;
    const char *base = getenv("FUZZ_TMPDIR");
    if (!base && stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
        base = "/dev/shm";
    if (!base) base = getenv("TMPDIR");
    if (!base) base = "/tmp";
    fuzz_dir_sweep(base);
    snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/salbench-fuzz.%ld", base, (long)getpid());
    fuzz_rmtree(fuzz_dir_path);
    if (mkdir(fuzz_dir_path, 0700)) {
        fprintf(stderr, "fuzz: cannot create '%s': %s\n", fuzz_dir_path, strerror(errno));
        abort();
    }
    atexit(fuzz_dir_cleanup);
    return fuzz_dir_path;
}

/* "<fuzz dir>/<name>" in a static buffer per call site's choice of `buf`. */
static inline const char *fuzz_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", fuzz_dir(), name);
    return buf;
}

/* Writes n bytes to path (replacing it); aborts when the scratch file system fails, which is
 * the harness's problem, not a finding. */
static inline void fuzz_write_file(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (n && fwrite(data, 1, n, fp) != n) || fclose(fp)) {
        fprintf(stderr, "fuzz: cannot write '%s': %s\n", path, strerror(errno));
        abort();
    }
}

/* A NUL-terminated copy of the input (malloc'd; the caller frees). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Reads the first and last byte of a buffer (ASan checks the whole claimed size is there). */
static inline void fuzz_touch(const void *p, size_t n)
{
    const volatile uint8_t *q = p;
    if (n) (void)q[0], (void)q[n - 1];
}

/* Reads bytes from the front of the input: structured harnesses decode their input with it. */
struct fuzz_reader {
    const uint8_t *p;
    size_t n;
};

static inline unsigned fuzz_u8(struct fuzz_reader *r)
{
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}

static inline unsigned fuzz_u16(struct fuzz_reader *r)
{
    unsigned lo = fuzz_u8(r);
    return lo | fuzz_u8(r) << 8;
}

#endif
