/* ImageFolder layout (torchvision's): a root directory with one subdirectory per class, whose
 * sorted names give class ids 0..K-1, each holding that class's *.png images. Lists files only;
 * decoding is pngio's job. */
#ifndef SALBENCH_IMAGEFOLDER_H
#define SALBENCH_IMAGEFOLDER_H

#include <stddef.h>

struct imagefolder_item {
    char *path;   /* root/class/file, as root was given */
    int class_id; /* index into imagefolder.class_names */
};

/* Owned by the struct (every string malloc'd); free with imagefolder_release. */
struct imagefolder {
    char **class_names; /* sorted bytewise (strcmp, locale-independent) */
    int nclasses;
    struct imagefolder_item *items; /* sorted by class id, then file name bytewise */
    size_t nitems;
};

/* Zeroes every field; no allocation. */
void imagefolder_init(struct imagefolder *f);
/* Frees all contents and re-inits. Accepts NULL. */
void imagefolder_release(struct imagefolder *f);

/* Scans `root`. Classes are the subdirectories of root (symlinks to directories count);
 * entries whose name starts with '.' are skipped everywhere, and plain files directly in root
 * are ignored. Images are regular files (or symlinks to them) whose name ends in ".png"
 * (case-insensitive); other files in a class folder are ignored. Deterministic order as above.
 * `f` must be init'ed. Returns 0, or -1 with err_set("cannot scan imagefolder '<root>': ...")
 * and f released when: root cannot be opened or is not a directory, it has no class
 * subdirectory, a class folder has no .png image (naming it), or an entry cannot be stat'ed or
 * read. */
int imagefolder_scan(struct imagefolder *f, const char *root);

#endif
