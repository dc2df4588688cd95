/* Internals shared by the mlflowstore files (writer, reader, text helpers); not a public API.
 * Text helpers: UTF-8 checks and cuts, YAML double-quoted scalars, small path utilities. */
#ifndef SALBENCH_MLFLOWSTORE_IMPL_H
#define SALBENCH_MLFLOWSTORE_IMPL_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer; every append fails only on OOM (err_set, -1). */
struct mlfs_buf {
    char *s;
    size_t n, cap;
};
int mlfs_buf_put(struct mlfs_buf *b, const void *data, size_t n);
int mlfs_buf_puts(struct mlfs_buf *b, const char *s);
int mlfs_buf_printf(struct mlfs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a YAML double-quoted scalar, ASCII only (\", \\, \n, \t, \uXXXX, \UXXXXXXXX). s
 * must be valid UTF-8. */
int mlfs_buf_yaml_string(struct mlfs_buf *b, const char *s);
void mlfs_buf_release(struct mlfs_buf *b);

/* Code points in s[0..n), or -1 when it is not valid UTF-8 (overlongs, surrogates, > U+10FFFF
 * rejected). */
long mlfs_utf8_count(const char *s, size_t n);
/* Bytes of the first max_cp code points of valid UTF-8 s[0..n). */
size_t mlfs_utf8_prefix(const char *s, size_t n, long max_cp);
/* Decodes one code point at s (valid UTF-8 assumed); returns its byte length. */
int mlfs_utf8_decode(const unsigned char *s, uint32_t *cp);

/* "a" + "/" + "b", malloc'd (NULL + err_set on OOM). */
char *mlfs_join(const char *a, const char *b);
/* 1 when path names a directory / a regular file (following symlinks). */
int mlfs_is_dir(const char *path);
int mlfs_is_file(const char *path);
/* mkdir -p (mode 0777 & ~umask). */
int mlfs_mkdirs(const char *path);
/* rm -rf of a directory tree or file; missing: 0. */
int mlfs_remove_tree(const char *path);
/* Whole file into a malloc'd NUL-terminated buffer. */
int mlfs_read_file(const char *path, char **data, size_t *n);
/* Writes a file (create or truncate, or append with MLFS_APPEND; fsync with MLFS_SYNC), every
 * step checked. Files of a staged run skip the fsync: the commit syncs the file system once. */
enum { MLFS_APPEND = 1 << 0, MLFS_SYNC = 1 << 1 };
int mlfs_write_file(const char *path, const void *data, size_t n, int flags);
/* syncfs(2) of the file system holding path (best effort where unsupported). */
int mlfs_syncfs(const char *path);
/* 1 when rel is a normalized relative POSIX path (no "", ".", ".." segments, no leading or
 * trailing '/'). */
int mlfs_relpath_ok(const char *rel);
/* Makes the parent directories of dir/rel. */
int mlfs_mkparents(const char *dir, const char *rel);

#endif
