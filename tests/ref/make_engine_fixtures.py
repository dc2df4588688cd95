#!/usr/bin/python3
"""Reference values for the C engine (tests/test_net.c), computed by PyTorch.

Each model is a layer list in salbench's architecture JSON format (pipeline/net.h); a small
interpreter here turns it into torch.nn modules and runs it, so the file's "architecture"
attribute is exactly what the C net is built from. Written per model, tests/ref/engine_<name>.h5:
  attrs   architecture (JSON), mode ("eval"/"train"), seed_layer, version, torch_version
  input                  [N, C, H, W] float32
  params/<state_dict name>   weights before the forward (num_batches_tracked left out)
  acts/<layer>           every layer's output
  seed                   gradient fed at seed_layer's output
  grads/<layer>          gradient at every layer's output ("grads/input" = input gradient)
  param_grads/<name>     gradient of every trainable tensor
  running/<name>         (train mode) batch-norm running statistics after the forward
Run with /usr/bin/python3 (Debian's python3-torch and python3-h5py); CI never runs it.
"""
import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn

VERSION = 1

MODELS = {
    # Residual block, batch norm (eval), ceil-mode max and avg pools, grouped, depthwise and
    # pointwise convs, a non-square kernel, global pool, dropout (eval), softmax head.
    "resnet": {
        "mode": "eval", "batch": 2, "seed_layer": "fc",
        "layers": [
            {"kind": "input", "name": "input", "channels": 3, "height": 12, "width": 12},
            {"kind": "conv2d", "name": "conv1", "out_channels": 8, "kernel_size": 3,
             "padding": 1, "bias": False},
            {"kind": "batchnorm2d", "name": "bn1"},
            {"kind": "relu", "name": "relu1"},
            {"kind": "maxpool2d", "name": "pool1", "kernel_size": 3, "stride": 2, "padding": 1,
             "ceil_mode": True},
            {"kind": "conv2d", "name": "conv2a", "out_channels": 8, "kernel_size": [3, 1],
             "padding": [1, 0]},
            {"kind": "batchnorm2d", "name": "bn2a", "eps": 1e-3},
            {"kind": "relu", "name": "relu2a"},
            {"kind": "conv2d", "name": "conv2b", "out_channels": 8, "kernel_size": 3,
             "padding": 1, "bias": False},
            {"kind": "batchnorm2d", "name": "bn2b"},
            {"kind": "add", "name": "add2", "inputs": ["bn2b", "pool1"]},
            {"kind": "relu", "name": "relu2"},
            {"kind": "conv2d", "name": "conv3", "out_channels": 12, "kernel_size": 3,
             "stride": 2, "padding": 1, "groups": 4},
            {"kind": "batchnorm2d", "name": "bn3"},
            {"kind": "relu", "name": "relu3"},
            {"kind": "conv2d", "name": "conv4", "out_channels": 12, "kernel_size": 3,
             "padding": 1, "groups": 12},
            {"kind": "relu", "name": "relu4"},
            {"kind": "conv2d", "name": "conv5", "out_channels": 16, "kernel_size": 1},
            {"kind": "avgpool2d", "name": "pool5", "kernel_size": 3, "stride": 2, "padding": 1,
             "ceil_mode": True},
            {"kind": "global_avgpool", "name": "gap"},
            {"kind": "flatten", "name": "flat"},
            {"kind": "dropout", "name": "drop", "p": 0.3},
            {"kind": "linear", "name": "fc", "out_features": 5},
            {"kind": "softmax", "name": "probs"},
        ],
    },
    # Two branches from the input joined by concat, batch norm in train mode (batch
    # statistics, running-stat update), avg pool without padding in the divisor, max pool with
    # stride 1, linear on a flattened map, sigmoid head; seeded at the head's output.
    "concat": {
        "mode": "train", "batch": 3, "seed_layer": "probs",
        "layers": [
            {"kind": "input", "name": "input", "channels": 2, "height": 10, "width": 10},
            {"kind": "conv2d", "name": "conva", "out_channels": 4, "kernel_size": 3,
             "padding": 1},
            {"kind": "relu", "name": "relua"},
            {"kind": "conv2d", "name": "convb", "out_channels": 3, "kernel_size": 1,
             "inputs": ["input"]},
            {"kind": "relu", "name": "relub"},
            {"kind": "concat", "name": "cat", "inputs": ["relua", "relub"]},
            {"kind": "batchnorm2d", "name": "bn", "momentum": 0.2},
            {"kind": "avgpool2d", "name": "pool", "kernel_size": 3, "stride": 2, "padding": 1,
             "count_include_pad": False},
            {"kind": "maxpool2d", "name": "mpool", "kernel_size": 2, "stride": 1},
            {"kind": "flatten", "name": "flat"},
            {"kind": "linear", "name": "fc", "out_features": 4},
            {"kind": "sigmoid", "name": "probs"},
        ],
    },
}


def pair(v):
    return tuple(v) if isinstance(v, list) else (v, v)


def make_module(layer, in_shape):
    """torch module for one layer spec given its input shape [C, H, W] (None: no module)."""
    k, c = layer["kind"], in_shape[0]
    if k == "conv2d":
        return nn.Conv2d(c, layer["out_channels"], pair(layer["kernel_size"]),
                         pair(layer.get("stride", 1)), pair(layer.get("padding", 0)),
                         groups=layer.get("groups", 1), bias=layer.get("bias", True))
    if k == "batchnorm2d":
        return nn.BatchNorm2d(c, eps=layer.get("eps", 1e-5), momentum=layer.get("momentum", 0.1))
    if k == "maxpool2d":
        ks = pair(layer["kernel_size"])
        return nn.MaxPool2d(ks, pair(layer.get("stride", layer["kernel_size"])),
                            pair(layer.get("padding", 0)), ceil_mode=layer.get("ceil_mode", False))
    if k == "avgpool2d":
        ks = pair(layer["kernel_size"])
        return nn.AvgPool2d(ks, pair(layer.get("stride", layer["kernel_size"])),
                            pair(layer.get("padding", 0)), ceil_mode=layer.get("ceil_mode", False),
                            count_include_pad=layer.get("count_include_pad", True))
    if k == "linear":
        return nn.Linear(int(np.prod(in_shape)), layer["out_features"],
                         bias=layer.get("bias", True))
    if k == "dropout":
        return nn.Dropout(layer.get("p", 0.5))
    simple = {"relu": nn.ReLU(), "global_avgpool": nn.AdaptiveAvgPool2d(1),
              "flatten": nn.Flatten(), "softmax": nn.Softmax(dim=1), "sigmoid": nn.Sigmoid()}
    return simple.get(k)


class Graph(nn.Module):
    """Runs a layer list; keeps every output (with retain_grad) by layer name."""

    def __init__(self, layers):
        super().__init__()
        self.layers = layers
        self.mods = nn.ModuleDict()
        shapes = {}
        for i, layer in enumerate(layers):
            if layer["kind"] == "input":
                shapes[layer["name"]] = (layer["channels"], layer["height"], layer["width"])
                continue
            ins = layer.get("inputs", [layers[i - 1]["name"]])
            mod = make_module(layer, shapes[ins[0]])
            if mod is not None:
                self.mods[layer["name"].replace(".", "_")] = mod
            dummy = [torch.zeros((1,) + shapes[n]) for n in ins]
            with torch.no_grad():
                out = self.apply_layer(layer, dummy, train=False)
            shapes[layer["name"]] = tuple(out.shape[1:])

    def apply_layer(self, layer, xs, train):
        k = layer["kind"]
        if k == "add":
            return xs[0] + xs[1]
        if k == "concat":
            return torch.cat(xs, dim=1)
        mod = self.mods[layer["name"].replace(".", "_")]
        x = xs[0]
        if k == "linear" and x.dim() > 2:
            x = x.flatten(1)
        mod.train(train)
        return mod(x)

    def forward(self, x, train):
        acts = {}
        for i, layer in enumerate(self.layers):
            if layer["kind"] == "input":
                acts[layer["name"]] = x
                continue
            ins = layer.get("inputs", [self.layers[i - 1]["name"]])
            out = self.apply_layer(layer, [acts[n] for n in ins], train)
            out.retain_grad()
            acts[layer["name"]] = out
        return acts

    def state_names(self):
        """state_dict entries renamed from mods.<layer>.<field> to <layer>.<field>."""
        names = {l["name"].replace(".", "_"): l["name"] for l in self.layers}
        out = {}
        for key, val in self.state_dict().items():
            _, mod, field = key.split(".", 2)
            if field != "num_batches_tracked":
                out[names[mod] + "." + field] = val
        return out


def randomise(graph, gen):
    """Non-trivial batch-norm statistics and affine parameters (the defaults are 0/1)."""
    with torch.no_grad():
        for mod in graph.mods.values():
            if isinstance(mod, nn.BatchNorm2d):
                n = mod.num_features
                mod.weight.copy_(0.5 + torch.rand(n, generator=gen))
                mod.bias.copy_(torch.rand(n, generator=gen) - 0.5)
                mod.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
                mod.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=gen))


def max_window_gap(layer, a):
    """Smallest gap between the largest and second-largest value of any max-pool window.

    Near-ties make the first-maximum choice depend on the last bit of the pool's input, which
    legitimately differs between engines (summation order), so the fixture avoids them.
    Windows whose maximum is an exact zero are ignored."""
    k, s, p = pair(layer["kernel_size"]), pair(layer.get("stride", layer["kernel_size"])), \
        pair(layer.get("padding", 0))
    extra = (s[0], s[1]) if layer.get("ceil_mode", False) else (0, 0)
    x = torch.nn.functional.pad(a.detach(), (p[1], p[1] + extra[1], p[0], p[0] + extra[0]),
                                value=float("-inf"))
    cols = torch.nn.functional.unfold(x, k, stride=s)  # [N, C*kh*kw, L]
    n, c = a.shape[0], a.shape[1]
    cols = cols.reshape(n, c, k[0] * k[1], -1)
    top = torch.topk(cols, 2, dim=2).values
    gap = (top[:, :, 0] - top[:, :, 1]) / top[:, :, 0].abs().clamp(min=1.0)
    # exact zeros (ReLU outputs) tie the same way in every engine; other ties do not
    gap = gap[torch.isfinite(top[:, :, 0]) & (top[:, :, 0] != 0)]
    return float(gap.min()) if gap.numel() else float("inf")


def write_model(path, name, cfg):
    """Writes the fixture from the first seed whose max-pool windows have no near-ties."""
    for attempt in range(100):
        torch.manual_seed(1234 + attempt)
        gen = torch.Generator().manual_seed(99 + attempt)
        graph = Graph(cfg["layers"])
        randomise(graph, gen)
        params = {k: v.detach().clone() for k, v in graph.state_names().items()}
        first = cfg["layers"][0]
        x = torch.randn(cfg["batch"], first["channels"], first["height"], first["width"],
                        generator=gen, requires_grad=True)
        train = cfg["mode"] == "train"
        acts = graph(x, train)
        gaps = [max_window_gap(l, acts[l.get("inputs", [cfg["layers"][i - 1]["name"]])[0]])
                for i, l in enumerate(cfg["layers"]) if l["kind"] == "maxpool2d"]
        if min(gaps, default=1.0) > 1e-4:
            break
    else:
        raise SystemExit("%s: no seed without max-pool near-ties" % name)
    write_tensors(path, cfg, graph, gen, params, x, acts, train)


def write_tensors(path, cfg, graph, gen, params, x, acts, train):
    first = cfg["layers"][0]
    out = acts[cfg["seed_layer"]]
    seed = torch.randn(out.shape, generator=gen)
    out.backward(seed)
    arch = {"format": "salbench-net", "version": 1, "layers": cfg["layers"]}
    with h5py.File(path, "w", track_order=True) as f:
        f.attrs["architecture"] = json.dumps(arch)
        f.attrs["mode"] = cfg["mode"]
        f.attrs["seed_layer"] = cfg["seed_layer"]
        f.attrs["version"] = VERSION
        f.attrs["torch_version"] = str(torch.__version__)
        f["input"] = x.detach().numpy().astype(np.float32)
        f["seed"] = seed.numpy().astype(np.float32)
        for k, v in params.items():
            f["params/" + k] = v.numpy().astype(np.float32)
        for lname, a in acts.items():
            f["acts/" + lname] = a.detach().numpy().astype(np.float32)
            g = x.grad if lname == first["name"] else a.grad
            if g is None:  # layers after the seed get no gradient
                g = torch.zeros_like(a)
            f["grads/" + lname] = g.numpy().astype(np.float32)
        named = {l["name"].replace(".", "_"): l["name"] for l in cfg["layers"]}
        for key, p in graph.named_parameters():
            _, mod, field = key.split(".", 2)
            f["param_grads/" + named[mod] + "." + field] = p.grad.numpy().astype(np.float32)
        if train:
            for k, v in graph.state_names().items():
                if k.endswith("running_mean") or k.endswith("running_var"):
                    f["running/" + k] = v.numpy().astype(np.float32)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    torch.set_num_threads(1)
    for name, cfg in MODELS.items():
        path = os.path.join(outdir, "engine_%s.h5" % name)
        write_model(path, name, cfg)
        print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
