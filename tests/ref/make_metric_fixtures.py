#!/usr/bin/python3
"""Writes tests/ref/metric_fixtures.h: small inputs and expected outputs for the metric kernels
(pipeline/stats, metrics_*, ssim, hog, perturb), computed by independent references: SciPy
(Spearman, Pearson, entropy, the RISE blur kernel), scikit-image 0.19 (SSIM, HOG), PyTorch
(RISE's conv2d blur) and plain NumPy re-statements of TorchRay's pointing game and Quantus'
formulas. The fixture is a C header (not HDF5) so the kernel tests need no I/O module.

Run with Debian's python (python3-numpy, python3-scipy, python3-skimage, python3-torch):
    /usr/bin/python3 tests/ref/make_metric_fixtures.py
Only needed when a reference changes; the output is committed and CI never runs this.
"""
import os

import numpy as np
import scipy.ndimage
import scipy.stats
import skimage
import skimage.feature
import skimage.metrics
import torch

VERSION = 1
rng = np.random.default_rng(20240501)
out = []


def c_float(v):
    """A float32 literal that round-trips exactly: 9 significant digits, always a point."""
    t = "%.9g" % np.float32(v)
    if "." not in t and "e" not in t:
        t += ".0"
    return t + "f"


def emit_array(name, arr, ctype):
    arr = np.asarray(arr).ravel()
    if ctype == "float":
        vals = [c_float(v) for v in arr]
    elif ctype == "double":
        vals = ["%.17g" % float(v) for v in arr]
    else:
        vals = ["%d" % int(v) for v in arr]
    lines = []
    per = 6 if ctype in ("float", "double") else 24
    for i in range(0, len(vals), per):
        lines.append("    " + ", ".join(vals[i:i + per]) + ",")
    out.append("static const %s %s[%d] = {\n%s\n};" % (ctype, name, len(arr), "\n".join(lines)))


def emit_scalar(name, value, ctype="double"):
    if ctype == "double":
        out.append("static const double %s = %.17g;" % (name, float(value)))
    else:
        out.append("enum { %s = %d };" % (name, int(value)))


def smooth_map(h, w, blobs=3):
    """A float32 map with a few Gaussian blobs plus noise: realistic, mostly untied values."""
    yy, xx = np.mgrid[0:h, 0:w]
    m = np.zeros((h, w))
    for _ in range(blobs):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        s = rng.uniform(2, max(3, min(h, w) / 3))
        m += rng.uniform(0.5, 2) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    m += 0.05 * rng.standard_normal((h, w))
    return m.astype(np.float32)


def minmax(a):
    a = a.astype(np.float64)
    return (a - a.min()) / (a.max() - a.min())


# ---- stats: Spearman (ties) and Pearson ---------------------------------------------------
n = 60
sx = rng.integers(0, 12, n).astype(np.float64) / 4.0  # exact in float32, many ties
sy = (sx + rng.integers(-3, 4, n) / 4.0).astype(np.float64)
emit_array("fx_spear_x", sx, "double")
emit_array("fx_spear_y", sy, "double")
emit_scalar("fx_spear_rho", scipy.stats.spearmanr(sx, sy).correlation)
emit_scalar("fx_pearson_r", scipy.stats.pearsonr(sx, sy)[0])
emit_array("fx_spear_ranks_x", scipy.stats.rankdata(sx, method="average"), "double")

# ---- complexity: Quantus Sparseness (Gini) and Complexity (entropy) ------------------------
gm = smooth_map(20, 20) - 0.3  # signed
b = (np.abs(gm) / np.float32(np.max(np.abs(gm)))).astype(np.float32)  # float32, Quantus
b = np.sort(b.astype(np.float64).ravel() + 1e-7)
nn = b.size
gini = np.sum((2 * np.arange(1, nn + 1) - nn - 1) * b) / (nn * np.sum(b))
emit_array("fx_gini_map", gm, "float")
emit_scalar("fx_gini", gini)
p = np.abs(gm.astype(np.float64)).ravel()
emit_scalar("fx_entropy", scipy.stats.entropy(p / p.sum()))

# ---- ranking for deletion: descending, ties by lowest flat index ---------------------------
dh, dw, dc = 12, 10, 3
dmap = (rng.integers(0, 9, (dh, dw)) / 8.0).astype(np.float32)
dmap[0, 3] = -0.0
dmap[5, 5] = 0.0
order = np.lexsort((np.arange(dh * dw), -dmap.ravel().astype(np.float64)))
emit_array("fx_del_map", dmap, "float")
emit_array("fx_del_order", order, "unsigned")
start = rng.standard_normal((dc, dh, dw)).astype(np.float32)
finish = rng.standard_normal((dc, dh, dw)).astype(np.float32)
n_steps = 7
step = -(-(dh * dw) // n_steps)
imgs = []
for k in range(n_steps + 1):
    im = start.copy().reshape(dc, -1)
    take = order[: min(k * step, dh * dw)]
    im[:, take] = finish.reshape(dc, -1)[:, take]
    imgs.append(im.reshape(dc, dh, dw))
emit_array("fx_del_start", start, "float")
emit_array("fx_del_finish", finish, "float")
emit_array("fx_del_images", np.stack(imgs), "float")
emit_scalar("FX_DEL_H", dh, "int")
emit_scalar("FX_DEL_W", dw, "int")
emit_scalar("FX_DEL_C", dc, "int")
emit_scalar("FX_DEL_STEPS", n_steps, "int")


# ---- RISE insertion blur: gkern via scipy, conv2d via torch ---------------------------------
def rise_blur(img, klen, sig):
    delta = np.zeros((klen, klen))
    delta[klen // 2, klen // 2] = 1
    k = scipy.ndimage.gaussian_filter(delta, sig)  # reflect, truncate 4 (scipy defaults)
    c = img.shape[0]
    kern = np.zeros((c, c, klen, klen))
    for i in range(c):
        kern[i, i] = k
    kern = torch.from_numpy(kern.astype("float32"))
    x = torch.from_numpy(img[None])
    return torch.nn.functional.conv2d(x, kern, padding=klen // 2)[0].numpy()


bimg = rng.standard_normal((3, 20, 24)).astype(np.float32)
emit_array("fx_blur_in", bimg, "float")
emit_array("fx_blur_out_r5", rise_blur(bimg, 11, 5.0), "float")
sig64 = 5.0 * 64 / 224
emit_array("fx_blur_out_r1", rise_blur(bimg, 3, sig64), "float")
d1 = np.zeros(11)
d1[5] = 1
emit_array("fx_blur_taps_r5", scipy.ndimage.gaussian_filter1d(d1, 5.0), "double")

# ---- SSIM (skimage, gaussian weights) on 0-1 min-max maps -----------------------------------
sa = smooth_map(24, 28)
sb = (sa + 0.3 * rng.standard_normal(sa.shape)).astype(np.float32)
na, nb = minmax(sa), minmax(sb)
emit_array("fx_ssim_a", sa, "float")
emit_array("fx_ssim_b", sb, "float")
emit_scalar("fx_ssim_ref", skimage.metrics.structural_similarity(
    na, nb, gaussian_weights=True, sigma=1.5, use_sample_covariance=True, data_range=2.0))
emit_scalar("fx_ssim_wang", skimage.metrics.structural_similarity(
    na, nb, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0))

# ---- HOG (skimage) ---------------------------------------------------------------------------
ha = smooth_map(64, 64, blobs=5)
hb = (ha + 0.2 * rng.standard_normal(ha.shape)).astype(np.float32)
emit_array("fx_hog_a", ha, "float")
emit_array("fx_hog_b", hb, "float")
hog_a = skimage.feature.hog(minmax(ha), orientations=9, pixels_per_cell=(16, 16),
                            cells_per_block=(3, 3), block_norm="L2-Hys", feature_vector=True)
hog_b = skimage.feature.hog(minmax(hb), orientations=9, pixels_per_cell=(16, 16),
                            cells_per_block=(3, 3), block_norm="L2-Hys", feature_vector=True)
emit_array("fx_hog_a_l2hys", hog_a, "double")
hc = smooth_map(50, 70, blobs=4)
emit_array("fx_hog_c", hc, "float")
emit_array("fx_hog_c_l1", skimage.feature.hog(
    minmax(hc), orientations=6, pixels_per_cell=(8, 8), cells_per_block=(2, 2),
    block_norm="L1", feature_vector=True), "double")
# The sanity-check bundle on (ha, hb).
emit_scalar("fx_sim_spearman_abs",
            scipy.stats.spearmanr(np.abs(ha).ravel(), np.abs(hb).ravel()).correlation)
emit_scalar("fx_sim_spearman_signed", scipy.stats.spearmanr(ha.ravel(), hb.ravel()).correlation)
emit_scalar("fx_sim_ssim", skimage.metrics.structural_similarity(
    minmax(ha), minmax(hb), gaussian_weights=True, sigma=1.5, use_sample_covariance=True,
    data_range=2.0))
emit_scalar("fx_sim_hog_spearman", scipy.stats.spearmanr(hog_a, hog_b).correlation)

# ---- pointing game (TorchRay's disc test) and Quantus mask scores ---------------------------
ph, pw, ntrial = 24, 32, 6
pmaps, pmasks, tols, hits, tie_fracs = [], [], [], [], []
rmass, rrank, topk, aucs = [], [], [], []
K = 50
for t in range(ntrial):
    m = smooth_map(ph, pw)
    if t % 2 == 1:
        m = (np.round(m * 4) / 4).astype(np.float32)  # ties
    mask = np.zeros((ph, pw), np.uint8)
    for _ in range(1 + t % 3):
        y0, x0 = rng.integers(0, ph - 4), rng.integers(0, pw - 4)
        mask[y0:y0 + rng.integers(2, 9), x0:x0 + rng.integers(2, 12)] = 1
    tol = [15 * 24 / 224, 5.0, 3.0][t % 3]
    vv, uu = np.mgrid[0:ph, 0:pw]

    def hit_at(idx):
        v, u = divmod(int(idx), pw)
        return bool(np.any(mask.astype(bool) & (((vv - v) ** 2 + (uu - u) ** 2) < tol ** 2)))

    flat = m.ravel()
    hits.append(hit_at(np.argmax(flat)))
    tied = np.flatnonzero(flat == flat.max())
    tie_fracs.append(np.mean([hit_at(i) for i in tied]))
    s = mask.ravel().astype(bool)
    a = flat.astype(np.float64)
    rmass.append(a[s].sum() / a.sum())
    rank_order = np.lexsort((np.arange(a.size), -a))
    rrank.append(np.mean(s[rank_order[: s.sum()]]))
    topk.append(np.mean(s[rank_order[:K]]))
    pos, neg = a[s], a[~s]
    gt = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    aucs.append(gt / (pos.size * neg.size))
    pmaps.append(m)
    pmasks.append(mask)
    tols.append(tol)
emit_scalar("FX_PG_H", ph, "int")
emit_scalar("FX_PG_W", pw, "int")
emit_scalar("FX_PG_TRIALS", ntrial, "int")
emit_scalar("FX_PG_TOPK", K, "int")
emit_array("fx_pg_maps", np.stack(pmaps), "float")
emit_array("fx_pg_masks", np.stack(pmasks), "unsigned char")
emit_array("fx_pg_tol", tols, "double")
emit_array("fx_pg_hit", hits, "int")
emit_array("fx_pg_tie_frac", tie_fracs, "double")
emit_array("fx_pg_relevance_mass", rmass, "double")
emit_array("fx_pg_relevance_rank", rrank, "double")
emit_array("fx_pg_topk", topk, "double")
emit_array("fx_pg_auc", aucs, "double")

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "metric_fixtures.h"), "w") as f:
    f.write("/* GENERATED by tests/ref/make_metric_fixtures.py (version %d) with NumPy %s, "
            "SciPy %s,\n * scikit-image %s, PyTorch %s: independent references for the metric "
            "kernels. Do not edit;\n * rerun the script when a reference changes. A C header "
            "rather than HDF5 so the kernel\n * tests need no I/O module. */\n"
            % (VERSION, np.__version__, scipy.__version__, skimage.__version__,
               torch.__version__))
    f.write("#ifndef SALBENCH_TESTS_METRIC_FIXTURES_H\n#define SALBENCH_TESTS_METRIC_FIXTURES_H\n\n")
    f.write("enum { FX_METRIC_VERSION = %d };\n\n" % VERSION)
    f.write("\n\n".join(out))
    f.write("\n\n#endif\n")
print("wrote metric_fixtures.h")
