#!/bin/sh
# report.html in a real browser: bin/aggregate on a tiny run (tests/aggregate/make_run.sh), then
# headless Chromium loads the page from file:// with logging on: no console errors and no failed
# resource loads, the DOM holds the summary tables, the curve plots and every heatmap as an img
# whose data: URI decodes to a PNG, no script and no URL that leaves the file; the screenshot is
# a PNG of the window size with plenty of distinct colours (decoded here with zlib, no PIL).
# Needs chromium (build-aux/deps.sh test installs it); skipped only when it cannot be installed.
. tests/lib.sh
BUILD=${BUILD:-build/release}
PY=/usr/bin/python3
AGG=${AGGREGATE:-bin/aggregate}
T=$(mktemp -d /tmp/test_report.XXXXXX)
trap 'rm -rf "$T"' EXIT

BROWSER=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$BROWSER" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1
    BROWSER=$(command -v chromium || true)
fi
if [ -z "$BROWSER" ]; then
    echo "SKIP report_browser: chromium is not installed and cannot be installed here"
    exit 0
fi
[ -x "$AGG" ] || { fail report_binaries "$AGG not built"; exit 1; }
R="$T/run"
if ! sh tests/aggregate/make_run.sh "$T/w" "$R" benign pgd >"$T/mk.out" 2>&1; then
    fail report_fixture "$(tail -n 3 "$T/mk.out")"; exit 1
fi
if "$AGG" --run-dir "$R" --evaluation 'eval <script>alert(1)</script> & "q" é' \
       --description 'line 1
<b>not bold</b>' --param dataset=scenes >"$T/a.out" 2>&1; then
    pass report_aggregate
else
    fail report_aggregate "$(cat "$T/a.out")"; exit 1
fi
HTML="$R/report.html"
NIMG=$(find "$R/benign/exports" "$R/pgd/exports" -name '*.png' | wc -l)

# Chromium's own profile and crash dirs go to $T; no sandbox (root), no GPU (headless CI).
chrome() {
    HOME="$T/home" timeout 120 "$BROWSER" --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$T/profile" --enable-logging=stderr --v=0 "$@"
}
chrome --dump-dom "file://$HTML" >"$T/dom.html" 2>"$T/dom.log"
rc=$?
if [ $rc = 0 ] && [ -s "$T/dom.html" ]; then pass report_browser_loads; else fail report_browser_loads "rc=$rc $(tail -n 3 "$T/dom.log")"; fi
# console messages are logged as CONSOLE(...) / "Uncaught"; failed loads as net::ERR_ or "Failed to load"
if grep -E 'CONSOLE|Uncaught|net::ERR_|Failed to load|Not allowed to load' "$T/dom.log" >"$T/errs"; then
    fail report_no_console_errors "$(head -n 3 "$T/errs")"
else
    pass report_no_console_errors
fi

# the check has teeth: a page that logs a console error is caught by the same grep
printf '<html><body><script>console.error("boom")</script></body></html>' >"$T/bad.html"
chrome --dump-dom "file://$T/bad.html" >/dev/null 2>"$T/bad.log"
if grep -qE 'CONSOLE|Uncaught' "$T/bad.log"; then pass report_console_check_catches_errors
else fail report_console_check_catches_errors "a console.error was not seen in the log"; fi

$PY - "$T/dom.html" "$HTML" "$NIMG" <<'EOF'
import base64, re, struct, sys, zlib
from html.parser import HTMLParser
dom, src, nimg = open(sys.argv[1], encoding="utf-8").read(), open(sys.argv[2], encoding="utf-8").read(), int(sys.argv[3])
def ok(name, cond, why=""):
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else ": " + str(why)))
class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.imgs, self.urls, self.classes = [], [], [], []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.classes.append((tag, a.get("class", "")))
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        for k in ("src", "href"):
            if k in a:
                self.urls.append(a[k])
p = P()
p.feed(dom)
tables = [c for t, c in p.classes if t == "table"]
ok("report_dom_tables", tables.count("summary") == 2 and tables.count("pointing") == 2 and
   tables.count("heatmaps") == 2, tables)
ok("report_dom_best_marked", sum(1 for t, c in p.classes if t == "td" and c == "best") >= 10)
svgs = [c for t, c in p.classes if t == "svg"]
ok("report_dom_curve_plots", svgs.count("plot deletion") == 2 and svgs.count("plot insertion") == 2, svgs)
ok("report_dom_polylines", p.tags.count("polyline") == 12, p.tags.count("polyline"))
ok("report_dom_images_all", len(p.imgs) == nimg and nimg >= 16, (len(p.imgs), nimg))
bad = []
for s in p.imgs:
    m = re.fullmatch(r"data:image/png;base64,([A-Za-z0-9+/=]+)", s)
    if not m:
        bad.append(s[:40]); continue
    b = base64.b64decode(m.group(1), validate=True)
    w, h = struct.unpack(">II", b[16:24])
    if b[:8] != b"\x89PNG\r\n\x1a\n" or b[12:16] != b"IHDR" or not (w and h):
        bad.append(s[:40])
ok("report_images_decode_as_png", not bad, bad[:2])
ext = [u for u in p.urls if not (u.startswith("data:") or u.startswith("#"))]
ok("report_self_contained", not ext and "http://" not in src.replace('xmlns="http://www.w3.org/2000/svg"', "")
   and "https://" not in src, ext[:3])
ok("report_no_script", "script" not in p.tags and "<script" not in src and "&lt;script&gt;" in src)
ok("report_escaped_description", "&lt;b&gt;not bold&lt;/b&gt;" in src)
ok("report_utf8", src.encode("utf-8").decode("utf-8") == src and "é" in dom)
EOF

chrome --screenshot="$T/shot.png" --window-size=1200,1800 --hide-scrollbars "file://$HTML" \
    >"$T/shot.log" 2>&1
$PY - "$T/shot.png" <<'EOF'
import struct, sys, zlib
def ok(name, cond, why=""):
    print(("PASS " if cond else "FAIL ") + name + ("" if cond else ": " + str(why)))
try:
    b = open(sys.argv[1], "rb").read()
except OSError as e:
    ok("report_screenshot", False, e); sys.exit(0)
assert b[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat, ihdr = 8, b"", None
while pos < len(b):
    n, kind = struct.unpack(">I4s", b[pos:pos + 8])
    data = b[pos + 8:pos + 8 + n]
    if kind == b"IHDR": ihdr = struct.unpack(">IIBBBBB", data)
    if kind == b"IDAT": idat += data
    pos += 12 + n
w, h, depth, ctype = ihdr[:4]
ok("report_screenshot_size", (w, h) == (1200, 1800) and depth == 8 and ctype in (2, 6), ihdr)
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, colours, nonwhite = bytearray(stride), set(), 0
for y in range(h):   # PNG filters (RFC 2083 6.3), to count real pixel values
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        c = prev[i - bpp] if i >= bpp else 0
        up = prev[i]
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + up) & 255
        elif f == 3: line[i] = (line[i] + (a + up) // 2) & 255
        elif f == 4:
            pa, pb, pc = abs(up - c), abs(a - c), abs(a + up - 2 * c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else up if pb <= pc else c)) & 255
    prev = line
    if y % 3 == 0:
        for x in range(0, stride, bpp * 3):
            px = bytes(line[x:x + 3])
            colours.add(px)
            nonwhite += px != b"\xff\xff\xff"
sampled = (h // 3 + 1) * (w // 3 + 1)
ok("report_screenshot_not_blank", len(colours) > 200 and nonwhite > 0.05 * sampled,
   (len(colours), nonwhite, sampled))
EOF
