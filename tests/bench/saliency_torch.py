#!/usr/bin/python3
"""PyTorch reference timings for tests/bench/saliency_run.sh (make bench): every attribution
method of pipeline/saliency.h written the way one would in PyTorch (batched: the backprop
methods forward each image once, 64 images per batch, and run one backward per round of its
classes with retain_graph; excitation backprop one forward per trial, 64 per batch; IG steps
and SmoothGrad samples of a trial in one batch as Captum does, occlusion windows 64 per
forward as Captum's perturbations_per_eval, RISE masks in chunks of 64 with one matmul for all
classes as TorchRay, extremal perturbation as TorchRay 1.0 with its areas in one batch), on the same model, examples and parameters as the C run.
Prints "RESULT engine=torch method=M trials=T ms_per_trial=X best_ms_per_trial=Y" lines.

    saliency_torch.py --examples FILE [--model FILE | --arch JSON] [--n N] [--repeats R]
                      [--threads T] [--methods a,b] [--set method.param=value ...]
"""
import argparse
import json
import math
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ALL = ["center", "random", "gradient", "input_x_gradient", "deconvnet", "guided_backprop",
       "gradcam", "guided_gradcam", "linear_approx", "excitation_backprop",
       "contrastive_excitation_backprop", "integrated_gradients", "smoothgrad", "smoothgrad_sq",
       "vargrad", "occlusion", "rise", "extremal_perturbation"]
DEFAULTS = {"integrated_gradients.steps": 50, "smoothgrad.samples": 50, "smoothgrad_sq.samples": 50,
            "vargrad.samples": 50, "rise.masks": 8000, "rise.cells": 7, "rise.p": 0.5,
            "extremal_perturbation.iterations": 800}

MODE = {"relu": "plain"}  # plain | guided | deconv | ebp


# ---- rules ---------------------------------------------------------------------------------

class GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g.clamp(min=0) * (x >= 0).to(g.dtype)


class DeconvReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        return g.clamp(min=0)


def ebp(op):
    class Ebp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, b):
            ctx.save_for_backward(x, w)
            return op(x, w, b)

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            with torch.enable_grad():
                xx = x.detach().requires_grad_(True)
                z = op(xx, None if w is None else w.clamp(min=0), None)
                (c,) = torch.autograd.grad(z, xx, g / (z + 1e-20))
            return x * c, None, None
    return Ebp.apply


class PassBN(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y, x):
        return y.clone()

    @staticmethod
    def backward(ctx, g):
        return None, g


# ---- the model from the architecture JSON ----------------------------------------------------

class Layer(nn.Module):
    def __init__(self, spec, cin):
        super().__init__()
        self.kind, self.name = spec["kind"], spec["name"]
        k = self.kind
        self.negate = False
        if k == "conv2d":
            ks = spec["kernel_size"]
            self.op = nn.Conv2d(cin, spec["out_channels"], ks, spec.get("stride", 1),
                                spec.get("padding", 0), groups=spec.get("groups", 1),
                                bias=spec.get("bias", True))
            self.cout = spec["out_channels"]
        elif k == "batchnorm2d":
            self.op = nn.BatchNorm2d(cin, eps=spec.get("eps", 1e-5))
        elif k == "linear":
            self.op = nn.Linear(cin, spec["out_features"], bias=spec.get("bias", True))
            self.cout = spec["out_features"]
        elif k in ("maxpool2d", "avgpool2d"):
            self.ks, self.st = spec["kernel_size"], spec.get("stride", spec["kernel_size"])
            self.pd, self.ceil = spec.get("padding", 0), spec.get("ceil_mode", False)
        self.cout = getattr(self, "cout", cin)

    def forward(self, x):
        k, rule = self.kind, MODE["relu"]
        if k == "conv2d":
            c = self.op
            if rule == "ebp":
                f = ebp(lambda a, w, b: F.conv2d(a, w, b, c.stride, c.padding, 1, c.groups))
                return f(x, c.weight, c.bias)
            return c(x)
        if k == "batchnorm2d":
            y = self.op(x)
            return PassBN.apply(y.detach(), x) if rule == "ebp" else y
        if k == "relu":
            return {"plain": F.relu, "ebp": F.relu, "guided": GuidedReLU.apply,
                    "deconv": DeconvReLU.apply}[rule](x)
        if k == "maxpool2d":
            return F.max_pool2d(x, self.ks, self.st, self.pd, ceil_mode=self.ceil)
        if k == "avgpool2d":
            f = lambda a, w, b: F.avg_pool2d(a, self.ks, self.st, self.pd, self.ceil)
            return ebp(f)(x, None, None) if rule == "ebp" else f(x, None, None)
        if k == "global_avgpool":
            f = lambda a, w, b: F.adaptive_avg_pool2d(a, 1)
            return ebp(f)(x, None, None) if rule == "ebp" else f(x, None, None)
        if k == "flatten":
            return x.flatten(1)
        if k == "linear":
            w = -self.op.weight if self.negate else self.op.weight
            if rule == "ebp":
                return ebp(lambda a, ww, b: F.linear(a, ww, b))(x.flatten(1), w, self.op.bias)
            return F.linear(x.flatten(1), w, self.op.bias)
        if k == "sigmoid":
            return torch.sigmoid(x)
        if k == "softmax":
            return F.softmax(x, dim=1)
        if k == "dropout":
            return x
        raise ValueError("layer kind %s not in the benchmark model" % k)


class Net(nn.Module):
    """A sequential salbench architecture; forward returns the logits and records the
    outputs of the layers named in `keep` (with the hook `hooks[name]` on them)."""

    def __init__(self, arch):
        super().__init__()
        specs = arch["layers"]
        self.shape = (specs[0]["channels"], specs[0]["height"], specs[0]["width"])
        cin, layers = self.shape[0], []
        for s in specs[1:]:
            if "inputs" in s:
                raise ValueError("the benchmark model must be sequential")
            layers.append(Layer(s, cin))
            cin = layers[-1].cout
        self.layers = nn.ModuleList(layers)
        heads = ("sigmoid", "softmax")
        self.n_logits = len(layers) - (1 if layers[-1].kind in heads else 0)

    def forward(self, x, keep=(), hooks=None, upto=None):
        acts = {}
        for i, L in enumerate(self.layers):
            x = L(x)
            if L.name in keep:
                if hooks and L.name in hooks:
                    x.register_hook(hooks[L.name])
                acts[L.name] = x
            if i + 1 == (upto or self.n_logits):
                break
        return x, acts

    def scores(self, x):
        """The model's output activation (its head)."""
        with torch.no_grad():
            y = x
            for L in self.layers:
                y = L(y)
            return y

    def names(self):
        return [L.name for L in self.layers]

    def kind(self, name):
        return self.layers[self.names().index(name)].kind


def load_model(args):
    if args.model:
        f = h5py.File(args.model, "r")
        arch = json.loads(f.attrs["architecture"])
        net = Net(arch)
        sd = {}
        for L in net.layers:
            for key in ("weight", "bias", "running_mean", "running_var"):
                if L.name + "." + key in f:
                    sd["layers.%d.op.%s" % (net.names().index(L.name), key)] = \
                        torch.tensor(f[L.name + "." + key][()])
        net.load_state_dict(sd, strict=False)
        mean, std = list(f.attrs["mean"]), list(f.attrs["std"])
    else:
        torch.manual_seed(1)
        net = Net(json.load(open(args.arch)))
        mean, std = [0.5] * net.shape[0], [0.25] * net.shape[0]
    for p in net.parameters():
        p.requires_grad_(False)
    return net.eval(), mean, std


def auto_layers(net):
    names = net.names()
    gap = [i for i, L in enumerate(net.layers) if L.kind == "global_avgpool"][-1]
    cam = names[gap - 1]
    pools = [i for i, L in enumerate(net.layers[:gap - 1]) if L.kind in ("maxpool2d", "avgpool2d")]
    eb = names[pools[-1]] if pools else cam
    fc = [i for i, L in enumerate(net.layers) if L.kind in ("conv2d", "linear")][-1]
    return cam, eb, names[fc - 1], fc


# ---- methods ---------------------------------------------------------------------------------

def onehot(n, cls, k):
    g = torch.zeros(n, k)
    g[torch.arange(n), torch.as_tensor(cls)] = 1
    return g


def chunks(n, b=64):
    return [(i, min(n, i + b)) for i in range(0, n, b)]


def shared_rounds(ex, cls, b=64):
    """The trials grouped by image, b distinct images per batch: yields (images, rounds), where
    rounds[j] = (rows, trials, seed_classes) of the images' j-th trials. One forward per image
    and one backward per round (retain_graph) is how one attributes several classes of an image
    in PyTorch; it is what the C engine does too (one forward per distinct image per batch)."""
    trials = {}
    for t, e in enumerate(ex):
        trials.setdefault(e, []).append(t)
    distinct = sorted(trials)
    for a, z in chunks(len(distinct), b):
        es = distinct[a:z]
        rounds = []
        for j in range(max(len(trials[e]) for e in es)):
            rows = [i for i, e in enumerate(es) if j < len(trials[e])]
            ts = [trials[es[i]][j] for i in rows]
            rounds.append((rows, ts, [cls[t] for t in ts]))
        yield es, rounds


def backward_rounds(y, wrt, rounds, out, keep=None):
    """One backward of y into wrt per round; row i of a round's result goes to out[trial]
    (with keep[i] beside it when given)."""
    for j, (rows, ts, cs) in enumerate(rounds):
        seed = torch.zeros_like(y)
        seed[rows, cs] = 1
        (g,) = torch.autograd.grad(y, wrt, seed, retain_graph=j + 1 < len(rounds))
        for i, t in zip(rows, ts):
            out[t] = g[i] if keep is None else (keep[i], g[i])


def input_grad(net, X, ex, cls, rule="plain"):
    MODE["relu"] = rule
    out = [None] * len(ex)
    for es, rounds in shared_rounds(ex, cls):
        x = X[es].clone().requires_grad_(True)
        y, _ = net(x)
        backward_rounds(y, x, rounds, out)
    MODE["relu"] = "plain"
    return torch.stack(out)


def layer_grad(net, X, ex, cls, layer):
    out = [None] * len(ex)
    for es, rounds in shared_rounds(ex, cls):
        y, acts = net(X[es].clone().requires_grad_(True), keep={layer})
        backward_rounds(y, acts[layer], rounds, out, acts[layer].detach())
    return torch.stack([a for a, _ in out]), torch.stack([g for _, g in out])


def up(m, H, W):
    return F.interpolate(m[:, None], size=(H, W), mode="bilinear", align_corners=False)[:, 0]


def gradcam(net, X, ex, cls, layer, H, W):
    a, g = layer_grad(net, X, ex, cls, layer)
    return up((a * g.mean(dim=(2, 3), keepdim=True)).sum(1).clamp(min=0), H, W)


def eb_maps(net, X, cls, layer, contrast=None, fc=None):
    MODE["relu"] = "ebp"
    out = []
    for a, b in chunks(len(X)):
        x = X[a:b].clone().requires_grad_(True)
        if contrast is None:
            y, acts = net(x, keep={layer})
            (g,) = torch.autograd.grad(y, acts[layer], onehot(b - a, cls[a:b], y.shape[1]))
            out.append(g.sum(1))
            continue
        net.layers[fc].negate = True
        y, acts = net(x, keep={contrast})
        seed = onehot(b - a, cls[a:b], y.shape[1])
        (c,) = torch.autograd.grad(y, acts[contrast], seed)
        net.layers[fc].negate = False
        y, acts = net(x, keep={contrast, layer}, hooks={contrast: lambda gg: gg - c})
        (g,) = torch.autograd.grad(y, acts[layer], seed)
        out.append(g.sum(1).clamp(min=0))
    MODE["relu"] = "plain"
    return torch.cat(out)


def ig(net, X, ex, cls, steps):
    xg, wg = np.polynomial.legendre.leggauss(steps)
    alphas = torch.tensor(0.5 * (1 + xg), dtype=torch.float32)[:, None, None, None]
    w = torch.tensor(0.5 * wg, dtype=torch.float32)[:, None, None, None]
    out = []
    for e, c in zip(ex, cls):
        x = X[e]
        xs = (alphas * x).requires_grad_(True)
        y, _ = net(xs)
        (g,) = torch.autograd.grad(y, xs, onehot(steps, [c] * steps, y.shape[1]))
        out.append((x * (g * w).sum(0)).sum(0))
    return torch.stack(out)


def smoothgrad(net, X, ex, cls, kind, samples, noise=0.15):
    out = []
    for e, c in zip(ex, cls):
        x = X[e]
        sigma = noise * float(x.max() - x.min())
        xs = (x + sigma * torch.randn(samples, *x.shape)).requires_grad_(True)
        y, _ = net(xs)
        (g,) = torch.autograd.grad(y, xs, onehot(samples, [c] * samples, y.shape[1]))
        if kind == "smoothgrad":
            a = g.mean(0)
        elif kind == "smoothgrad_sq":
            a = (g * g).mean(0)
        else:
            a = (g * g).mean(0) - g.mean(0) ** 2
        out.append(a.abs().amax(0))
    return torch.stack(out)


def occlusion(net, X, ex, cls, window, stride, H, W):
    ny, nx = math.ceil((H - window) / stride) + 1, math.ceil((W - window) / stride) + 1
    maps = torch.zeros(len(ex), H, W)
    for e in sorted(set(ex)):
        rows = [i for i, ee in enumerate(ex) if ee == e]
        x = X[e]
        f0 = net.scores(x[None])[0]
        tot = torch.zeros(len(rows), H, W)
        cnt = torch.zeros(H, W)
        pos = [(iy * stride, ix * stride) for iy in range(ny) for ix in range(nx)]
        for a, b in chunks(len(pos)):
            xb = x.repeat(b - a, 1, 1, 1)
            for j, (y0, x0) in enumerate(pos[a:b]):
                xb[j, :, y0:y0 + window, x0:x0 + window] = 0
            d = f0[None] - net.scores(xb)
            for j, (y0, x0) in enumerate(pos[a:b]):
                for r, i in enumerate(rows):
                    tot[r, y0:y0 + window, x0:x0 + window] += d[j, cls[i]]
                cnt[y0:y0 + window, x0:x0 + window] += 1
        for r, i in enumerate(rows):
            maps[i] = tot[r] / cnt
    return maps


def rise(net, X, ex, cls, N, cells, p, H, W):
    cell = math.ceil(H / cells)
    up_size = H + cell
    cs = math.ceil(up_size / cells)
    maps = torch.zeros(len(ex), H, W)
    with torch.no_grad():
        for e in sorted(set(ex)):
            sal = torch.zeros(net.layers[-1].cout, H * W)
            for a, b in chunks(N):
                grid = (torch.rand(b - a, 1, cells, cells) < p).float()
                g = F.pad(grid, (1, 1, 1, 1), mode="reflect")
                u = F.interpolate(g, (cs * (cells + 2),) * 2, mode="bilinear", align_corners=False)
                u = u[:, :, cs:cs + up_size, cs:cs + up_size]
                sx, sy = torch.randint(0, cell, (b - a,)), torch.randint(0, cell, (b - a,))
                m = torch.stack([u[i, 0, sx[i]:sx[i] + H, sy[i]:sy[i] + W] for i in range(b - a)])
                probs = net.scores(X[e][None] * m[:, None])
                sal += probs.t() @ m.view(b - a, H * W)
            for i, ee in enumerate(ex):
                if ee == e:
                    maps[i] = (sal[cls[i]] / N).view(H, W)
    return maps


def imsmooth(x, sigma):
    width = math.ceil(4 * float(sigma))
    filt = torch.arange(-width, width + 1, dtype=torch.float32) / (math.sqrt(2) * float(sigma) + 1.19209290e-07)
    filt = torch.exp(-filt * filt)
    filt = filt / filt.sum()
    n = x.shape[1]
    x = F.conv2d(x, filt.reshape(1, 1, -1, 1).expand(n, -1, -1, -1), padding=(width, 0), groups=n)
    return F.conv2d(x, filt.reshape(1, 1, 1, -1).expand(n, -1, -1, -1), padding=(0, width), groups=n)


def ep(net, X, ex, cls, iters, H, W, areas=(0.025, 0.05, 0.1, 0.2), levels=8):
    s = min(H, W) / 224
    step, sigma, max_blur = max(1, round(7 * s)), 21 * s, 20 * s
    margin, pad, radius = sigma, 1 + math.ceil(2 * sigma / step), 1 + math.ceil(sigma / step)
    k = 2 * radius + 1
    shape_in = [math.ceil(z / step) for z in (H, W)]
    shape_mid = [z + 2 * pad - k + 1 for z in shape_in]
    shape_up = [step * z for z in shape_mid]
    shape_out = [z - step + 1 for z in shape_up]
    wt = torch.zeros(1, k * k, *shape_out)
    uy, ux = torch.meshgrid(torch.arange(shape_out[0], dtype=torch.float32),
                            torch.arange(shape_out[1], dtype=torch.float32), indexing="ij")
    for ky in range(k):
        for kx in range(k):
            iy = torch.floor(uy / step) + ky - pad
            ix = torch.floor(ux / step) + kx - pad
            d = torch.sqrt((uy - (margin + step * iy)) ** 2 + (ux - (margin + step * ix)) ** 2)
            wt[0, ky * k + kx] = torch.exp(-2 * ((d / sigma - 0.5).clamp(min=0) ** 2))
    o = round(margin)
    nfull = shape_out[0] * shape_out[1]
    ref = torch.ones(len(areas), nfull)
    for i, a in enumerate(areas):
        ref[i, :int(nfull * (1 - a))] = 0
    out = []
    for e, c in zip(ex, cls):
        x = X[e][None]
        pyr = torch.cat([imsmooth(x, (1 - t) * max_blur) for t in torch.linspace(0, 1, levels)])
        pm = torch.ones(len(areas), 1, *shape_in)
        opt = torch.optim.SGD([pm], lr=0.01, momentum=0.9, dampening=0.9)
        lam = 300.0
        for t in range(iters):
            pm.requires_grad_(True)
            m = F.unfold(pm, (k, k), padding=(pad, pad)).reshape(len(areas), -1, *shape_mid)
            m = F.interpolate(m, size=shape_up, mode="nearest")[:, :, :shape_out[0], :shape_out[1]]
            m = wt * m
            full = (m * F.softmax(20 * m, dim=1)).sum(1, keepdim=True).clamp(0, 1)
            crop = full[:, :, o:o + H, o:o + W]
            w = crop.reshape(len(areas), 1, 1, H, W) * (levels - 1)
            kk = w.floor()
            w = w - kk
            kk = kk.long().expand(len(areas), 1, *pyr.shape[1:])
            y = pyr[None].expand(len(areas), *pyr.shape)
            xx = ((1 - w) * torch.gather(y, 1, kk) +
                  w * torch.gather(y, 1, torch.clamp(kk + 1, max=levels - 1))).squeeze(1)
            if t % 2 == 0:
                xx = torch.flip(xx, dims=(3,))
            logits, _ = net(xx)
            srt = full.reshape(len(areas), -1).sort(dim=1)[0]
            energy = (logits[:, c] - ((srt - ref) ** 2).mean(1) * lam).sum()
            opt.zero_grad()
            (-energy).backward()
            opt.step()
            pm.data = pm.data.clamp(0, 1)
            lam *= 1.0035
        out.append(crop.detach().sum(0)[0])
    return torch.stack(out)


def run(method, net, X, ex, cls, P, H, W):
    Xt = X[ex]
    cam, eb, contrast, fc = auto_layers(net)
    if method == "center":
        yy, xx = torch.meshgrid(torch.arange(H) + 0.5 - H / 2, torch.arange(W) + 0.5 - W / 2,
                                indexing="ij")
        return torch.exp(-(xx ** 2 + yy ** 2) / (2 * (0.25 * min(H, W)) ** 2)).expand(len(ex), H, W)
    if method == "random":
        return torch.rand(len(ex), H, W)
    if method == "gradient":
        return input_grad(net, X, ex, cls).abs().amax(1)
    if method == "input_x_gradient":
        return (Xt * input_grad(net, X, ex, cls)).sum(1)
    if method == "deconvnet":
        return input_grad(net, X, ex, cls, "deconv").abs().amax(1)
    if method == "guided_backprop":
        return input_grad(net, X, ex, cls, "guided").abs().amax(1)
    if method == "gradcam":
        return gradcam(net, X, ex, cls, cam, H, W)
    if method == "guided_gradcam":
        return (input_grad(net, X, ex, cls, "guided") * gradcam(net, X, ex, cls, cam, H, W)[:, None]).abs().amax(1)
    if method == "linear_approx":
        a, g = layer_grad(net, X, ex, cls, cam)
        return up((a * g).sum(1), H, W)
    if method == "excitation_backprop":
        return up(eb_maps(net, Xt, cls, eb), H, W)
    if method == "contrastive_excitation_backprop":
        return up(eb_maps(net, Xt, cls, eb, contrast, fc), H, W)
    if method == "integrated_gradients":
        return ig(net, X, ex, cls, P["integrated_gradients.steps"])
    if method in ("smoothgrad", "smoothgrad_sq", "vargrad"):
        return smoothgrad(net, X, ex, cls, method, P[method + ".samples"])
    if method == "occlusion":
        w = max(1, round(min(H, W) / 8))
        return occlusion(net, X, ex, cls, w, max(1, w // 2), H, W)
    if method == "rise":
        return rise(net, X, ex, cls, P["rise.masks"], P["rise.cells"], P["rise.p"], H, W)
    if method == "extremal_perturbation":
        return ep(net, X, ex, cls, P["extremal_perturbation.iterations"], H, W)
    raise ValueError(method)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", required=True)
    ap.add_argument("--model")
    ap.add_argument("--arch", default="data/models/fashion-scenes-cnn.json")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods")
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    P = dict(DEFAULTS)
    for s in args.set:
        k, v = s.split("=")
        P[k] = type(P.get(k, 0.0))(float(v)) if k in P else float(v)
    net, mean, std = load_model(args)
    f = h5py.File(args.examples, "r")
    img = torch.tensor(f["images"][:args.n], dtype=torch.float32).permute(0, 3, 1, 2) / 255
    mean_t = torch.tensor(mean, dtype=torch.float32)[None, :, None, None]
    X = (img - mean_t) / torch.tensor(std, dtype=torch.float32)[None, :, None, None]
    hot = f["labels"][:args.n]
    ex = [e for e in range(len(hot)) for k in range(hot.shape[1]) if hot[e, k]]
    cls = [k for e in range(len(hot)) for k in range(hot.shape[1]) if hot[e, k]]
    H, W = X.shape[2:]
    methods = args.methods.split(",") if args.methods else ALL
    for m in methods:
        times = []
        run(m, net, X, ex, cls, P, H, W)  # warm-up (oneDNN primitives, allocator), untimed
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            run(m, net, X, ex, cls, P, H, W)
            times.append(1e3 * (time.perf_counter() - t0) / len(ex))
        times.sort()
        print("RESULT engine=torch method=%s trials=%d ms_per_trial=%.4f best_ms_per_trial=%.4f"
              % (m, len(ex), float(np.median(times)), times[0]), flush=True)


if __name__ == "__main__":
    main()
