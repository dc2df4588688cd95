/* Strictness checks cJSON leaves out, for the JSON files a user writes by hand (COCO
 * annotations, model architectures). cJSON reads numbers with strtod, so it takes "032" as 32
 * and "1." as 1, and it keeps the first of two equal keys in an object: a typo a reader should
 * hear about, not a value silently chosen. */
#ifndef SALBENCH_JSONCHECK_H
#define SALBENCH_JSONCHECK_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Scans the text outside strings: every number must follow JSON's grammar
 * (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?) and arrays/objects must not nest deeper than
 * max_depth. Returns the byte offset of the first fault and sets *why to what it is
 * ("a number with a leading zero", ...), or len when the text has none. */
size_t jsoncheck_text(const char *json, size_t len, int max_depth, const char **why);

/* The first object member (depth first) whose key an earlier member of the same object has,
 * or NULL. */
const cJSON *jsoncheck_duplicate_key(const cJSON *item);

#endif
