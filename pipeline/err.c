/* Per-thread error message buffer; see err.h. Formatting only, no output. */
#include "pipeline/err.h"

#include <stdarg.h>
#include <string.h>

static _Thread_local char err_buffer[1024];

int err_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buffer, sizeof err_buffer, fmt, ap);
    va_end(ap);
    return -1;
}

int err_wrap(const char *fmt, ...)
{
    char old[sizeof err_buffer];
    memcpy(old, err_buffer, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err_buffer, sizeof err_buffer, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof err_buffer)
        snprintf(err_buffer + n, sizeof err_buffer - (size_t)n, "%s", old);
    return -1;
}

const char *err_msg(void)
{
    return err_buffer;
}

void err_clear(void)
{
    err_buffer[0] = '\0';
}
