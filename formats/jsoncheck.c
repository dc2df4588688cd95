/* JSON strictness checks cJSON does not make (see jsoncheck.h). */
#include "formats/jsoncheck.h"

#include <string.h>

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Length of the JSON number at s (at most n bytes), 0 with *why set when it breaks the
 * grammar. The caller has seen s[0] is '-' or a digit. */
static size_t number_len(const char *s, size_t n, const char **why)
{
    size_t i = 0;
    if (s[i] == '-') i++;
    if (i == n || !is_digit(s[i])) return *why = "a '-' without digits", 0;
    if (s[i] == '0' && i + 1 < n && is_digit(s[i + 1]))
        return *why = "a number with a leading zero", 0;
    while (i < n && is_digit(s[i]))
        i++;
    if (i < n && s[i] == '.') {
        if (++i == n || !is_digit(s[i])) return *why = "a number without digits after '.'", 0;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        if (++i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i == n || !is_digit(s[i])) return *why = "a number without exponent digits", 0;
        while (i < n && is_digit(s[i]))
            i++;
    }
    return i;
}

size_t jsoncheck_text(const char *json, size_t len, int max_depth, const char **why)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = json[i];
        if (in_str) {
            if (ch == '\\') i++;
            else if (ch == '"') in_str = 0;
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '[' || ch == '{') {
            if (++depth > max_depth) return *why = "arrays or objects nested too deep", i;
        } else if (ch == ']' || ch == '}') {
            depth--;
        } else if (ch == '-' || is_digit(ch)) {
            size_t k = number_len(json + i, len - i, why);
            if (!k) return i;
            i += k - 1;
        }
    }
    return len;
}

const cJSON *jsoncheck_duplicate_key(const cJSON *item)
{
    for (const cJSON *c = item ? item->child : NULL; c; c = c->next) {
        if (cJSON_IsObject(item))
            for (const cJSON *e = item->child; e != c; e = e->next)
                if (e->string && c->string && strcmp(e->string, c->string) == 0) return c;
        const cJSON *d = jsoncheck_duplicate_key(c);
        if (d) return d;
    }
    return NULL;
}
