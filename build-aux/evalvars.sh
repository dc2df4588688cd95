#!/bin/sh
# Turns an evaluation file (pipeline/<name>.json) into make assignments, one per line, that the
# Makefile includes before its defaults. The file is one flat JSON object whose keys are the
# make variables of `make run` (EVAL, DATA, MODEL, METHODS, METRICS, CHAINS, SEED, ...):
#   {"DATA": "data/fashion-scenes/test", "METHODS": ["gradient", "gradcam"], "SEED": 0}
# Values are strings, numbers, booleans (1/0) or arrays of them (joined with commas). Keys
# starting with "_" are comments. Nested objects are an error: the format stays greppable and
# needs no JSON library (awk only). Command-line variables still override the file.
# Usage: build-aux/evalvars.sh FILE > FILE.mk
set -eu
f=${1:?usage: build-aux/evalvars.sh EVALUATION.json}
[ -r "$f" ] || { echo "evalvars: cannot read '$f': no such file" >&2; exit 1; }
awk -v file="$f" '
function die(why) { printf "evalvars: cannot read \047%s\047: %s\n", file, why > "/dev/stderr"; bad = 1; exit 1 }
function ws() { while (pos <= n && index(" \t\r\n", substr(s, pos, 1))) pos++ }
function peek() { ws(); return substr(s, pos, 1) }
function expect(c) { if (peek() != c) die("expected \"" c "\" at offset " pos); pos++ }
function str(   out, c, e) {
    expect("\"")
    out = ""
    while (pos <= n) {
        c = substr(s, pos++, 1)
        if (c == "\"") return out
        if (c == "\\") {
            e = substr(s, pos++, 1)
            if (e == "\"" || e == "\\" || e == "/") out = out e
            else die("unsupported escape \\" e " (use plain UTF-8)")
        } else if (c == "\n") die("newline inside a string")
        else out = out c
    }
    die("unterminated string")
}
function scalar(   c, m) {
    c = peek()
    if (c == "\"") return str()
    if (match(substr(s, pos), /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/)) {
        m = substr(s, pos, RLENGTH); pos += RLENGTH; return m
    }
    if (substr(s, pos, 4) == "true") { pos += 4; return "1" }
    if (substr(s, pos, 5) == "false") { pos += 5; return "0" }
    die("expected a string, number, boolean or array at offset " pos)
}
function value(   out) {
    if (peek() == "{") die("nested objects are not supported (flat KEY: value pairs only)")
    if (peek() != "[") return scalar()
    pos++
    out = ""
    if (peek() == "]") { pos++; return "" }
    for (;;) {
        if (peek() == "[" || peek() == "{") die("arrays hold strings or numbers only")
        out = out (out == "" ? "" : ",") scalar()
        if (peek() == ",") { pos++; continue }
        expect("]")
        return out
    }
}
# make would expand $ and treat # as a comment: escape both
function mk(v) { gsub(/\$/, "$$", v); gsub(/#/, "\\#", v); return v }
{ s = s $0 "\n" }
END {
    if (bad) exit 1
    n = length(s); pos = 1
    expect("{")
    if (peek() == "}") exit 0
    for (;;) {
        k = str()
        expect(":")
        v = value()
        if (k !~ /^_/) {
            if (k !~ /^[A-Z][A-Za-z0-9_]*$/) die("key \"" k "\" is not a make variable name (A-Z first, then letters, digits, _)")
            if (k in seen) die("key \"" k "\" appears twice")
            seen[k] = 1
            printf "%s := %s\n", k, mk(v)
        }
        if (peek() == ",") { pos++; continue }
        expect("}")
        break
    }
    ws()
    if (pos <= n) die("text after the closing brace")
}' "$f"
