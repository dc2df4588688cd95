#!/usr/bin/python3
"""Writes the committed seed corpora tests/fuzz/corpus/<target>/ (small, deterministic):
PNG files of every colour type, depth and interlace (an independent zlib encoder), IDX files
(plain and gzip), COCO JSON (polygons, RLE lists, compressed RLE), ImageFolder tree scripts,
option argv lists, architecture JSON, model-file edit scripts and HDF5 files written by h5py
(superblock v0 without checksums, so byte mutations reach the object parsers).
Run from the repository root: /usr/bin/python3 tests/fuzz/make_seeds.py"""
import gzip
import json
import os
import struct
import zlib

OUT = "tests/fuzz/corpus"


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- PNG --------------------------------------------------------------------------------------

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pack_row(samples, depth):
    if depth >= 8:
        fmt = ">%d%s" % (len(samples), "B" if depth == 8 else "H")
        return struct.pack(fmt, *samples)
    out, acc, bits = bytearray(), 0, 0
    for s in samples:
        acc = (acc << depth) | s
        bits += depth
        if bits == 8:
            out.append(acc)
            acc, bits = 0, 0
    if bits:
        out.append(acc << (8 - bits))
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]


def png(w, h, ctype, depth, interlace=0, extra=b"", seed=1):
    chans = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    maxv = (1 << depth) - 1
    px = [[[(x * 7 + y * 13 + c * 29 + seed) % (maxv + 1) for c in range(chans)]
           for x in range(w)] for y in range(h)]
    raw = bytearray()
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        xs, ys = list(range(x0, w, dx)), list(range(y0, h, dy))
        if not xs or not ys:
            continue
        for y in ys:
            raw.append(0)
            raw += pack_row([s for x in xs for s in px[y][x]], depth)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra +
            chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))


def png_seeds():
    for depth in (1, 2, 4, 8, 16):
        put("png", "grey%d" % depth, png(5, 3, 0, depth))
    put("png", "grey8_trns", png(4, 4, 0, 8, extra=chunk(b"tRNS", b"\x00\x07")))
    put("png", "rgb8", png(4, 3, 2, 8))
    put("png", "rgb16_trns", png(3, 3, 2, 16, extra=chunk(b"tRNS", b"\x00\x01" * 3)))
    pal = chunk(b"PLTE", bytes(range(48)))
    put("png", "pal4", png(6, 2, 3, 4, extra=pal))
    put("png", "pal8_trns", png(4, 4, 3, 2, extra=pal + chunk(b"tRNS", b"\x00\x80\xff")))
    put("png", "ga8", png(3, 5, 4, 8))
    put("png", "ga16", png(2, 2, 4, 16))
    put("png", "rgba8", png(4, 4, 6, 8))
    put("png", "rgba16_interlaced", png(9, 9, 6, 16, interlace=1))
    put("png", "grey1_interlaced", png(11, 7, 0, 1, interlace=1))
    put("png", "rgb8_text_gamma", png(2, 2, 2, 8, extra=chunk(b"gAMA", b"\x00\x00\xb1\x8f") +
                                      chunk(b"tEXt", b"k\x00v")))
    good = png(3, 3, 2, 8)
    put("png", "truncated", good[:len(good) - 20])
    put("png", "huge_header", png(1, 1, 0, 8)[:16] + struct.pack(">II", 100000, 100000) +
        png(1, 1, 0, 8)[24:])


# ---- IDX ---------------------------------------------------------------------------------------

def idx(dims, data=None):
    n = 1
    for d in dims:
        n *= d
    if data is None:
        data = bytes((i * 37) & 255 for i in range(n))
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def idx_seeds():
    # fuzz_idx: byte 0 bit 0 = 0: the rest is one file; 1: two files, the next two bytes give
    # the images file's length, the labels file follows.
    def pair(a, b):
        return b"\x01" + struct.pack("<H", len(a)) + a + b
    put("idx", "labels", b"\x00" + idx([5]))
    put("idx", "images", b"\x00" + idx([2, 3, 4]))
    put("idx", "rank4", b"\x00" + idx([1, 2, 2, 2]))
    put("idx", "images_gz", b"\x00" + gzip.compress(idx([2, 2, 3]), mtime=0))
    put("idx", "trailing", b"\x00" + idx([3]) + b"x")
    put("idx", "big_claim", b"\x00" + bytes([0, 0, 8, 3]) + struct.pack(">III", 60000, 28, 28))
    put("idx", "pair", pair(idx([2, 2, 2]), idx([2])))
    put("idx", "pair_gz", pair(gzip.compress(idx([3, 1, 2]), mtime=0), gzip.compress(idx([3]), mtime=0)))
    put("idx", "pair_mismatch", pair(idx([2, 2, 2]), idx([3])))


# ---- COCO --------------------------------------------------------------------------------------

def rle_string(counts):
    """pycocotools rleToString."""
    out = []
    for i, c in enumerate(counts):
        x = c
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            ch = x & 0x1f
            x >>= 5
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def coco_seeds():
    images = [{"id": 1, "file_name": "a.png", "width": 6, "height": 4},
              {"id": 7, "file_name": "dir/b.png", "width": 3, "height": 3}]
    cats = [{"id": 1, "name": "cat", "supercategory": "animal"}, {"id": 3, "name": "dog"}]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0.5, 0, 3, 2.25], "area": 5.5,
         "iscrowd": 0, "segmentation": [[0.5, 0, 3.5, 0, 3.5, 2.25, 0.5, 2.25]]},
        {"id": 2, "image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2], "iscrowd": 1,
         "segmentation": {"size": [4, 6], "counts": [5, 2, 2, 2, 13]}},
        {"id": 3, "image_id": 7, "category_id": 3, "bbox": [0, 0, 3, 3],
         "segmentation": {"size": [3, 3], "counts": rle_string([0, 4, 1, 4])}},
        {"id": 4, "image_id": 7, "category_id": 1, "bbox": [0, 0, 1, 1]},
    ]
    put("coco", "full", json.dumps({"images": images, "annotations": anns, "categories": cats}))
    put("coco", "compact", json.dumps({"images": images[:1], "annotations": anns[:1],
                                       "categories": cats[:1]}, separators=(",", ":")))
    put("coco", "empty", '{"images":[],"annotations":[],"categories":[]}')
    put("coco", "polygons2", json.dumps({
        "images": [{"id": 0, "file_name": "x.png", "width": 8, "height": 8}],
        "categories": [{"id": 0, "name": "\u00e9t\u00e9 \"q\"\n"}],
        "annotations": [{"id": 0, "image_id": 0, "category_id": 0, "bbox": [0, 0, 8, 8],
                         "iscrowd": True,
                         "segmentation": [[0, 0, 8, 0, 4, 8], [1e-3, 1, 7.999, 1, 7, 7, 2, 5]]}]}))
    put("coco", "bad_rle_sum", json.dumps({
        "images": [{"id": 0, "file_name": "x.png", "width": 2, "height": 2}],
        "categories": [{"id": 0, "name": "c"}],
        "annotations": [{"id": 0, "image_id": 0, "category_id": 0, "bbox": [0, 0, 1, 1],
                         "segmentation": {"size": [2, 2], "counts": "03"}}]}))
    put("coco", "nested", "[" * 200 + "]" * 200)
    put("coco", "big_numbers", '{"images":[{"id":9007199254740993,"file_name":"","width":1e9,'
        '"height":-0}],"annotations":[],"categories":[]}')


# ---- ImageFolder scripts -------------------------------------------------------------------------

def folder_seeds():
    # fuzz_imagefolder script (see fuzz_imagefolder.c): op, class index, name length + bytes,
    # suffix (0 none, 1 ".png", 2 ".PNG", 3 ".Png"), then a length + content for files (ops 1,
    # 4, 6) or a target index for symlinks (ops 2, 3).
    def step(op, k, s, suffix, extra=b""):
        return bytes([op, k, len(s)]) + s.encode() + bytes([suffix]) + extra
    def cls(s):
        return step(0, 0, s, 0)
    def f(k, s, suffix=1, content=b""):
        return step(1, k, s, suffix, bytes([len(content)]) + content)
    pngdata = png(2, 2, 0, 8)
    put("imagefolder", "two_classes", cls("cat") + cls("dog") + f(0, "a") + f(0, "b", 2) +
        f(1, "z", 1, pngdata) + f(1, "notes", 0))
    put("imagefolder", "symlinks", cls("b") + f(0, "x", 1, pngdata) + step(2, 0, "link", 1, b"\x01")
        + step(3, 0, "alias", 0, b"\x00") + step(2, 0, "dangling", 3, b"\xff"))
    put("imagefolder", "hidden_and_sub", cls("a") + f(0, "y", 3) + step(6, 0, "h", 1, b"\x00") +
        step(5, 0, "sub", 1) + step(4, 0, "r", 1, b"\x00") + step(6, 0x80, "root", 0, b"\x00"))
    put("imagefolder", "empty_class", cls("a") + cls("b") + f(1, "q"))
    put("imagefolder", "root_dangling", cls("a") + f(0, "q") + step(3, 0, "zz", 0, b"\xff"))


# ---- options (argv lists, NUL-separated) ------------------------------------------------------------

def options_seeds():
    def argv(*a):
        return "\0".join(a)
    put("options", "all", argv("--out", "x.h5", "--limit", "12", "--rate=0.5", "--size", "32x48",
                               "--shard", "1/4", "--methods", "a,b", "--methods=c", "--flag",
                               "--threads", "2", "pos"))
    put("options", "errors", argv("--limit", "1e3", "--size", "0x1", "--shard", "4/4"))
    put("options", "help", argv("--help"))
    put("options", "version", argv("--version"))
    put("options", "dashdash", argv("--name", "\"quoted\\\x01\xff", "--", "--limit"))
    put("options", "bad", argv("-x", "--unknown", "--flag=1", "--methods", ",,"))


# ---- model architecture JSON and model-file scripts ----------------------------------------------

SMALL_NET = {"format": "salbench-net", "version": 1, "layers": [
    {"kind": "input", "name": "input", "channels": 2, "height": 6, "width": 5},
    {"kind": "conv2d", "name": "conv1", "out_channels": 4, "kernel_size": 3, "stride": 1,
     "padding": 1, "groups": 2, "bias": False},
    {"kind": "batchnorm2d", "name": "bn1", "eps": 1e-5, "momentum": 0.1},
    {"kind": "relu", "name": "relu1"},
    {"kind": "maxpool2d", "name": "pool1", "kernel_size": 2, "stride": 2, "ceil_mode": True},
    {"kind": "conv2d", "name": "conv2", "out_channels": 4, "kernel_size": [1, 3],
     "padding": [0, 1]},
    {"kind": "add", "name": "res", "inputs": ["pool1", "conv2"]},
    {"kind": "avgpool2d", "name": "pool2", "kernel_size": 2, "padding": 1,
     "count_include_pad": False},
    {"kind": "concat", "name": "cat", "inputs": ["pool2", "pool2"]},
    {"kind": "dropout", "name": "drop", "p": 0.25},
    {"kind": "global_avgpool", "name": "gap"},
    {"kind": "flatten", "name": "flat"},
    {"kind": "linear", "name": "fc", "out_features": 3, "bias": True},
    {"kind": "softmax", "name": "probs", "dim": 1}]}

TINY_NET = {"layers": [
    {"kind": "input", "name": "input", "channels": 1, "height": 4, "width": 4},
    {"kind": "conv2d", "name": "c", "out_channels": 2, "kernel_size": 3},
    {"kind": "linear", "name": "fc", "out_features": 2}, {"kind": "sigmoid", "name": "s"}]}


def model_seeds():
    put("model_arch", "small", json.dumps(SMALL_NET))
    put("model_arch", "tiny", json.dumps(TINY_NET))
    put("model_arch", "bad_input", json.dumps({"layers": [{"kind": "conv2d", "name": "c"}]}))
    put("model_arch", "huge", json.dumps({"layers": [
        {"kind": "input", "name": "input", "channels": 65536, "height": 65536, "width": 65536},
        {"kind": "flatten", "name": "f"}]}))
    # fuzz_model_file: architecture JSON, a NUL, then edits (see fuzz_model_file.c).
    put("model_file", "small", json.dumps(SMALL_NET) + "\0")
    put("model_file", "tiny", json.dumps(TINY_NET) + "\0")
    put("model_file", "tiny_edits", json.dumps(TINY_NET).encode() + b"\0" +
        bytes([0, 1, 2, 3, 1, 4, 0, 5, 7, 6, 0, 7, 2, 8, 1, 9, 1, 10, 3, 11, 0]))


# ---- HDF5 tables (h5py) ----------------------------------------------------------------------------

def h5_seeds():
    import h5py
    import numpy as np
    d = os.path.join(OUT, "h5table")
    os.makedirs(d, exist_ok=True)
    ex = np.dtype([("example_id", "<u8"), ("label", "<i4"), ("n_labels", "<i4"),
                   ("source", "S12"), ("score", "<f8")])
    rows = np.zeros(3, ex)
    rows["example_id"] = [3, 9, 12]
    rows["label"] = [0, 1, -1]
    rows["source"] = [b"a.png", b"b.png", b"c"]
    cls = np.dtype([("class_id", "<i4"), ("name", "S8")])
    for name, kw in (("plain", {}), ("chunked", {"chunks": True, "compression": "gzip",
                                                 "shuffle": True, "maxshape": (None,)})):
        with h5py.File(os.path.join(d, name), "w", track_order=False) as f:
            f.create_dataset("examples", data=rows, track_times=False, **kw)
            f.create_dataset("classes", data=np.array([(0, b"cat"), (1, b"dog")], cls),
                             track_times=False)
            img_kw = dict(kw)
            if "maxshape" in img_kw:
                img_kw["maxshape"] = (None, 2, 2, 1)
            f.create_dataset("images", data=np.arange(12, dtype="u1").reshape(3, 2, 2, 1),
                             track_times=False, **img_kw)
            f["images"].attrs["CLASS"] = b"ARRAY"
            f.attrs["stage"] = b"load"
            f.attrs["salbench_version"] = "0.1.0"
            f.attrs["params"] = b'{"size": "2x2", "seed": 1}'
            f.attrs["inputs"] = b'{"coco": {"path": "a.json", "hash": "0123456789abcdef"}}'
            f.attrs["id_seed"] = np.int64(0)
            f.attrs["mean"] = np.array([0.5, 0.25])
            g = f.create_group("maps")
            g.create_dataset("gradcam", data=np.ones((3, 2, 2), "<f4"), track_times=False)


def h5_examples_seed():
    """An examples.h5 as formats/exampleset reads it, written by h5py (no checksums)."""
    import h5py
    import numpy as np
    d = os.path.join(OUT, "h5table")
    ex = np.dtype([("example_id", "<u8"), ("label", "<i4"), ("n_labels", "<i4")])
    cls = np.dtype([("class_id", "<i4"), ("name", "S16")])
    with h5py.File(os.path.join(d, "examples_h5py"), "w") as f:
        f.create_dataset("examples", data=np.array([(5, 0, 1), (8, 1, 1), (9, -1, 2)], ex),
                         track_times=False)
        f.create_dataset("images", data=np.arange(3 * 2 * 2 * 3, dtype="u1").reshape(3, 2, 2, 3),
                         track_times=False)
        f.create_dataset("labels", data=np.array([[1, 0], [0, 1], [1, 1]], "u1"),
                         track_times=False)
        f.create_dataset("classes", data=np.array([(0, b"cat"), (1, b"dog")], cls),
                         track_times=False)


def h5_limit_files():
    """tests/fuzz/regressions/h5table/: files that claim far more data than they store."""
    import h5py
    import numpy as np
    d = "tests/fuzz/regressions/h5table"
    os.makedirs(d, exist_ok=True)
    with h5py.File(os.path.join(d, "huge_extent"), "w") as f:
        ds = f.create_dataset("images", shape=(1, 4, 4), maxshape=(None, 4, 4), dtype="u1",
                              chunks=(1, 4, 4), track_times=False)
        ds[0] = np.ones((4, 4), "u1")
        ds.resize((1 << 40, 4, 4))
        ex = np.dtype([("example_id", "<u8"), ("label", "<i4")])
        t = f.create_dataset("examples", shape=(1,), maxshape=(None,), dtype=ex, chunks=(64,),
                              track_times=False)
        t.resize((1 << 36,))


def mlflow_seeds():
    # fuzz_mlflow: mode byte (even: helpers, odd: a run), then A NUL B NUL C
    def seed(mode, a, b, c=""):
        return bytes([mode]) + a.encode() + b"\0" + b.encode() + b"\0" + c.encode()
    put("mlflow", "helpers", seed(0, "deletion_curve/grad cam", '{"a": [1, 2.5e-07, "\\u00e9"]}'))
    put("mlflow", "helpers_odd", seed(0, "../x//./ y\u00e9\n", "[NaN, Infinity, -0.0, 1e16]"))
    put("mlflow", "run", seed(1, "score.pointing_game.tolerance", "15", "demo-1a2b3c4d"))
    put("mlflow", "run_quotes", seed(1, "m\u00e9thode 'q' \"d\"", 'line1\nline2: "x" \\ \t',
                                     "r\u00e9sum\u00e9 \U0001F600"))
    put("mlflow", "run_json", seed(1, "a", '{"size": "224x224", "nested": {"k": [1, true, null]}}',
                                   "n"))


if __name__ == "__main__":
    png_seeds()
    idx_seeds()
    coco_seeds()
    folder_seeds()
    options_seeds()
    model_seeds()
    h5_seeds()
    h5_limit_files()
    h5_examples_seed()
    mlflow_seeds()
