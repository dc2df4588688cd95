#!/usr/bin/python3
"""Converts a PyTorch classifier built from salbench's supported layers into a salbench model
file (formats/model.h): the architecture JSON of pipeline/net.h from a torch.fx trace, every
state_dict tensor as a float32 dataset, and the preprocessing attributes.

Supported: nn.Conv2d (zeros padding, dilation 1, integer/tuple padding), nn.BatchNorm2d (affine,
running stats), nn.ReLU, nn.MaxPool2d (dilation 1), nn.AvgPool2d (no divisor_override),
nn.AdaptiveAvgPool2d(1), nn.Linear, nn.Flatten(1), nn.Dropout, nn.Identity, nn.Softmax(dim=1),
nn.Sigmoid; and the functions/methods +, torch.add, torch.cat(dim=1), torch.flatten(x, 1),
relu, sigmoid, softmax(dim=1), adaptive_avg_pool2d(x, 1). Anything else is an error naming the
node. Residual connections become "add" layers with named inputs.

Usage as a program (the module comes from a Python file defining a function that returns it):
    /usr/bin/python3 data/models/convert_torch.py --module mynet.py:build --weights w.pt \
        --input 3,64,64 --mean 0.5,0.5,0.5 --std 0.25,0.25,0.25 --classes a,b,c --out m.h5
or from Python:  convert(model, "m.h5", input_shape=(3, 64, 64), mean=..., std=...,
class_names=[...], activation=None)   # activation: the trailing layer's, else "softmax"
Needs Debian's python3-torch and python3-h5py. The file is written to OUT.tmp.<pid> and
renamed, so a failure leaves no partial model.
"""
import argparse
import importlib.util
import json
import operator
import os
import sys

import h5py
import numpy as np
import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F


class ConvertError(Exception):
    pass


def _pair(v):
    return list(v) if isinstance(v, (tuple, list)) else [v, v]


def _short(v):
    """An integer when both entries agree, else [h, w] (the JSON accepts either)."""
    p = _pair(v)
    return p[0] if p[0] == p[1] else p


def _module_layer(m, where):
    """The JSON keys of a supported module (without kind/name/inputs), or None for Identity."""
    if isinstance(m, nn.Conv2d):
        if _pair(m.dilation) != [1, 1] or m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise ConvertError("%s: conv2d needs dilation 1, zeros padding, explicit padding" % where)
        return {"kind": "conv2d", "in_channels": m.in_channels, "out_channels": m.out_channels,
                "kernel_size": _short(m.kernel_size), "stride": _short(m.stride),
                "padding": _short(m.padding), "groups": m.groups, "bias": m.bias is not None}
    if isinstance(m, nn.BatchNorm2d):
        if not m.affine or not m.track_running_stats:
            raise ConvertError("%s: batchnorm2d needs affine=True, track_running_stats=True" % where)
        return {"kind": "batchnorm2d", "num_features": m.num_features, "eps": m.eps,
                "momentum": 0.1 if m.momentum is None else m.momentum}
    if isinstance(m, nn.ReLU):
        return {"kind": "relu"}
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        if isinstance(m, nn.MaxPool2d) and (_pair(m.dilation) != [1, 1] or m.return_indices):
            raise ConvertError("%s: maxpool2d needs dilation 1 and no indices" % where)
        if isinstance(m, nn.AvgPool2d) and m.divisor_override is not None:
            raise ConvertError("%s: avgpool2d divisor_override is not supported" % where)
        d = {"kind": "maxpool2d" if isinstance(m, nn.MaxPool2d) else "avgpool2d",
             "kernel_size": _short(m.kernel_size),
             "stride": _short(m.stride if m.stride is not None else m.kernel_size),
             "padding": _short(m.padding), "ceil_mode": bool(m.ceil_mode)}
        if isinstance(m, nn.AvgPool2d):
            d["count_include_pad"] = bool(m.count_include_pad)
        return d
    if isinstance(m, nn.AdaptiveAvgPool2d):
        if _pair(m.output_size) != [1, 1]:
            raise ConvertError("%s: only AdaptiveAvgPool2d(1) is supported" % where)
        return {"kind": "global_avgpool"}
    if isinstance(m, nn.Linear):
        return {"kind": "linear", "in_features": m.in_features, "out_features": m.out_features,
                "bias": m.bias is not None}
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise ConvertError("%s: only Flatten(1) is supported" % where)
        return {"kind": "flatten"}
    if isinstance(m, nn.Dropout):
        return {"kind": "dropout", "p": m.p}
    if isinstance(m, nn.Softmax):
        if m.dim != 1:
            raise ConvertError("%s: softmax must be over dim 1" % where)
        return {"kind": "softmax"}
    if isinstance(m, nn.Sigmoid):
        return {"kind": "sigmoid"}
    if isinstance(m, nn.Identity):
        return None
    raise ConvertError("%s: unsupported module %s" % (where, type(m).__name__))


def _arg(node, i, key, default):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(key, default)


def _function_layer(node):
    """(JSON keys, input nodes) of a supported function or method call."""
    t, where = node.target, "node '%s'" % node.name
    if t in (operator.add, torch.add) or (node.op == "call_method" and t == "add"):
        if len(node.args) != 2 or not all(isinstance(a, torch.fx.Node) for a in node.args):
            raise ConvertError("%s: add of two tensors only" % where)
        return {"kind": "add"}, list(node.args)
    if t is torch.cat:
        if _arg(node, 1, "dim", 0) != 1:
            raise ConvertError("%s: concat must be over dim 1" % where)
        return {"kind": "concat"}, list(node.args[0])
    if t in (torch.flatten,) or (node.op == "call_method" and t == "flatten"):
        if _arg(node, 1, "start_dim", 0) != 1 or _arg(node, 2, "end_dim", -1) != -1:
            raise ConvertError("%s: flatten(x, 1) only" % where)
        return {"kind": "flatten"}, [node.args[0]]
    if t in (F.relu, torch.relu) or (node.op == "call_method" and t in ("relu", "relu_")):
        return {"kind": "relu"}, [node.args[0]]
    if t in (torch.sigmoid,) or (node.op == "call_method" and t == "sigmoid"):
        return {"kind": "sigmoid"}, [node.args[0]]
    if t in (F.softmax, torch.softmax) or (node.op == "call_method" and t == "softmax"):
        if _arg(node, 1, "dim", None) != 1:
            raise ConvertError("%s: softmax must be over dim 1" % where)
        return {"kind": "softmax"}, [node.args[0]]
    if t is F.adaptive_avg_pool2d:
        if _pair(_arg(node, 1, "output_size", None)) != [1, 1]:
            raise ConvertError("%s: adaptive_avg_pool2d(x, 1) only" % where)
        return {"kind": "global_avgpool"}, [node.args[0]]
    raise ConvertError("%s: unsupported operation %s" % (where, getattr(t, "__name__", t)))


def architecture(model, input_shape):
    """The layer list (dicts) of pipeline/net.h for `model` traced with torch.fx."""
    gm = torch.fx.symbolic_trace(model)
    modules = dict(gm.named_modules())
    c, h, w = input_shape
    layers, alias, used = [], {}, {}

    def ref(n):
        return alias.get(n.name, n.name)

    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if layers:
                raise ConvertError("the model must take exactly one input")
            layers.append({"kind": "input", "name": "input", "channels": c, "height": h,
                           "width": w})
            alias[node.name] = "input"
            continue
        if node.op == "output":
            break
        if node.op == "get_attr":
            raise ConvertError("node '%s': parameters used as values are not supported"
                               % node.name)
        if node.op == "call_module":
            d = _module_layer(modules[node.target], "module '%s'" % node.target)
            ins = [node.args[0]]
            name = node.target
            if name in used:  # a parameter-free module called again (a shared ReLU)
                if any(True for _ in modules[node.target].parameters()):
                    raise ConvertError("module '%s' is called twice (weight sharing)" % name)
                used[name] += 1
                name = "%s_%d" % (name, used[name])
            else:
                used[name] = 0
            if d is None:  # Identity
                alias[node.name] = ref(ins[0])
                continue
        else:
            d, ins = _function_layer(node)
            name = node.name
        d = dict({"kind": d.pop("kind"), "name": name}, **d)
        names = [ref(i) for i in ins]
        if names != [layers[-1]["name"]]:
            d["inputs"] = names
        if any(l["name"] == name for l in layers):
            raise ConvertError("layer name '%s' is used twice" % name)
        alias[node.name] = name
        layers.append(d)
    return layers


def _write_attrs(f, layers, input_shape, mean, std, class_names, activation):
    arch = ('{"format": "salbench-net", "version": 1, "layers": [\n'
            + ",\n".join("  " + json.dumps(l) for l in layers) + "\n]}\n")
    f.attrs["format"] = np.bytes_(b"salbench-model")
    f.attrs["format_version"] = np.int64(1)
    f.attrs["architecture"] = np.bytes_(arch.encode())
    for key, v in zip(("input_channels", "input_height", "input_width"), input_shape):
        f.attrs[key] = np.int64(v)
    f.attrs["mean"] = np.asarray(mean, dtype=np.float64)
    f.attrs["std"] = np.asarray(std, dtype=np.float64)
    f.attrs["class_names"] = np.bytes_(json.dumps(list(class_names)).encode())
    f.attrs["output_activation"] = np.bytes_(activation.encode())
    f.attrs["stage"] = np.bytes_(b"convert_torch")
    f.attrs["salbench_version"] = np.bytes_(b"0.1.0")
    f.attrs["params"] = np.bytes_(json.dumps({"torch": torch.__version__}).encode())
    f.attrs["inputs"] = np.bytes_(b"{}")


def convert(model, out, input_shape, mean, std, class_names=None, activation=None):
    """Writes `model` (eval mode) to `out`. Returns the layer list."""
    model = model.eval()
    layers = architecture(model, input_shape)
    with torch.no_grad():
        k = model(torch.zeros((1,) + tuple(input_shape))).shape[1]
    class_names = list(class_names) if class_names else [str(i) for i in range(k)]
    if len(class_names) != k:
        raise ConvertError("%d class names for %d outputs" % (len(class_names), k))
    head = layers[-1]["kind"]
    if activation is None:
        activation = head if head in ("softmax", "sigmoid") else "softmax"
    if len(mean) != input_shape[0] or len(std) != input_shape[0]:
        raise ConvertError("mean and std need %d values" % input_shape[0])
    tmp = "%s.tmp.%d" % (out, os.getpid())
    try:
        with h5py.File(tmp, "w", track_order=False) as f:
            _write_attrs(f, layers, input_shape, mean, std, class_names, activation)
            for key, t in model.state_dict().items():
                if key.endswith("num_batches_tracked"):
                    continue
                f.create_dataset(key, data=t.detach().cpu().numpy().astype(np.float32),
                                 track_times=False)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return layers


def _floats(text, what):
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise ConvertError("--%s: not a comma-separated list of numbers" % what)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--module", required=True, help="FILE.py:FUNCTION returning the nn.Module")
    ap.add_argument("--weights", help="state_dict file (torch.save) to load into it")
    ap.add_argument("--input", required=True, help="C,H,W")
    ap.add_argument("--mean", required=True, help="per-channel mean on 0..1")
    ap.add_argument("--std", required=True, help="per-channel std on 0..1")
    ap.add_argument("--classes", help="comma-separated class names (default 0..K-1)")
    ap.add_argument("--activation", choices=("softmax", "sigmoid"))
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    try:
        path, _, fn = a.module.partition(":")
        spec = importlib.util.spec_from_file_location("user_model", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        model = getattr(mod, fn or "build")()
        if a.weights:
            model.load_state_dict(torch.load(a.weights, map_location="cpu"))
        shape = tuple(int(v) for v in _floats(a.input, "input"))
        convert(model, a.out, shape, _floats(a.mean, "mean"), _floats(a.std, "std"),
                a.classes.split(",") if a.classes else None, a.activation)
    except (ConvertError, OSError, AttributeError, RuntimeError) as e:
        print("convert_torch: cannot convert '%s': %s" % (a.module, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
