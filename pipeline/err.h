/* One error message per thread, recorded where a failure is detected and printed by the stage
 * main (libvips' error buffer, reduced to one message). pipeline/ and formats/ never print or
 * exit: they call err_set() and return -1; the stage prints "<stage>: <err_msg()>".
 *
 * Messages read "cannot VERB 'THING': REASON" (lowercase, no full stop). */
#ifndef SALBENCH_ERR_H
#define SALBENCH_ERR_H

#include <stdio.h>
#include <stdlib.h>

/* Records a message, replacing any earlier one. Always returns -1 so callers can write
 * `return err_set(...)`. */
int err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prefixes the current message with more context: "cannot load 'x': " + old message. */
int err_wrap(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The last message of this thread ("" when none). Valid until the next err_set. */
const char *err_msg(void);

void err_clear(void);

/* Always-on check for programmer errors: prints file:line and aborts (ggml GGML_ASSERT). */
#define SB_ASSERT(cond)                                                                        \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

#endif
