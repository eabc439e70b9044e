#!/usr/bin/env python3
"""Convert MediaPipe's selfie-segmentation TFLite model into the TorchScript model MaskOracle ships.

Two stages, two virtual environments (the TFLite parser and the pinned torch never share one):

  # once: the two venvs (Python 3.11)
  python3 -m venv ~/.cache/maskoracle/venv-convert
  ~/.cache/maskoracle/venv-convert/bin/pip install -r inference/models/requirements-convert.txt
  python3 -m venv ~/.cache/maskoracle/venv-torch-2.13.0
  ~/.cache/maskoracle/venv-torch-2.13.0/bin/pip install torch==2.13.0 torchvision==0.28.0 pillow numpy
  touch ~/.cache/maskoracle/venv-torch-2.13.0/.complete

  # the model's source: the mediapipe 0.10.14 wheel from PyPI (not installed, only read)
  pip download --no-deps mediapipe==0.10.14 -d ~/.cache/maskoracle/wheels \
      --python-version 3.11 --only-binary=:all: --platform manylinux_2_17_x86_64
  WHEEL=~/.cache/maskoracle/wheels/mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl

  # stage 1 (venv-convert: tflite + numpy): parse the flatbuffer, dequantize the float16
  # weights, write graph.json + weights.npz (+ the .tflite itself, for the reference script)
  ~/.cache/maskoracle/venv-convert/bin/python inference/models/convert_tflite.py dump \
      --wheel "$WHEEL" --work ~/.cache/maskoracle/selfie-convert
  # stage 2 (venv-torch-2.13.0): build the NCHW torch graph, trace it, wrap it in the scripted
  # pre/post-processing module, save model.pt + manifest.json
  ~/.cache/maskoracle/venv-torch-2.13.0/bin/python inference/models/convert_tflite.py build \
      --work ~/.cache/maskoracle/selfie-convert --out inference/models/selfie-segmentation

The build is deterministic: the same wheel and the same bytes of this script give the same
model.pt bytes (checked: two builds, same sha256). TorchScript's debug info records source lines
of this file, so any edit here (even a comment) changes model.pt's sha256 (not its outputs).

The module (TorchScript, aten ops only): forward(x) with x float32 [1, 3, H, W] RGB in [0, 1]
(any H, W >= 1) returns float32 [1, 2, H, W] logits: channel 0 is 0 (background), channel 1 the
person logit z (softmax over the channels = sigmoid(z), argmax = person iff z > 0). Inside:
  1. resize to 256x256, stretching (no letterbox), bilinear, align_corners=False, no antialias;
  2. the converted network (NCHW); its output is the pre-sigmoid map of the final
     Convolution2DTransposeBias (the graph's last LOGISTIC is left out);
  3. the 1x1x256x256 logit map resized back to H x W (bilinear, align_corners=False);
  4. torch.cat([zeros, z], 1).
MediaPipe's own graph (selfie_segmentation_cpu.binarypb in the wheel) uses
ImageToTensorCalculator with output 256x256, keep_aspect_ratio: false (it stretches), float range
[0, 1], then TensorsToSegmentationCalculator resizes the probability map back to the input size.
We follow it: stretch, and plain bilinear (half-pixel centres, no antialias, like MediaPipe's
OpenCV INTER_LINEAR warp; not bit-identical to OpenCV's fixed-point weights). An antialiased
downscale was tried: same masks on the person photos, no better on the corpus' mirror-consistency
check (mean IoU of mask(image) vs mirrored mask(mirrored image): 0.70 with antialias, 0.74
without), so the module keeps MediaPipe's filter. See NOTES.md.

TFLite -> torch op mapping (NHWC -> NCHW; OHWI -> OIHW; depthwise 1HWC -> C1HW):
CONV_2D / DEPTHWISE_CONV_2D with TFLite SAME padding as an explicit asymmetric F.pad (more at the
bottom/right), fused activations applied; AVERAGE_POOL_2D (VALID) as avg_pool2d / global mean;
RESIZE_BILINEAR (half_pixel_centers) as F.interpolate(align_corners=False); HARD_SWISH, RELU,
LOGISTIC, ADD, MUL (broadcast [1,C,1,1]); custom Convolution2DTransposeBias as ConvTranspose2d
with bias (options: padding, stride_w, stride_h as LE int32). DEQUANTIZE of float16 constants is
done at conversion time (weights are stored as float32).
"""

import argparse
import hashlib
import json
import os
import sys
import zipfile

WHEEL_MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"
GRAPH_MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation_cpu.binarypb"
LICENCE_MEMBER = "mediapipe-0.10.14.dist-info/LICENSE"
NET_SIZE = 256


def sha256(b):
    return hashlib.sha256(b).hexdigest()


# --------------------------------------------------------------------------- stage 1: dump
def dump(args):
    import numpy as np
    import tflite

    info = {}
    if args.wheel:
        wheel_bytes = open(args.wheel, "rb").read()
        with zipfile.ZipFile(args.wheel) as z:
            buf = z.read(WHEEL_MEMBER)
            graph_pb = z.read(GRAPH_MEMBER)
        info.update(
            wheel=os.path.basename(args.wheel),
            wheel_sha256=sha256(wheel_bytes),
            tflite_path=WHEEL_MEMBER,
            graph_pb_sha256=sha256(graph_pb),
        )
    else:
        buf = open(args.tflite, "rb").read()
        info.update(wheel=None, tflite_path=os.path.basename(args.tflite))
    info["tflite_sha256"] = sha256(buf)
    info["tflite_bytes"] = len(buf)

    m = tflite.Model.GetRootAsModel(buf, 0)
    assert m.SubgraphsLength() == 1
    g = m.Subgraphs(0)
    opnames = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
    act_names = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH"}
    np_types = {0: np.float32, 1: np.float16, 2: np.int32}

    def shape(i):
        t = g.Tensors(i)
        return [int(s) for s in t.ShapeAsNumpy()] if t.ShapeLength() else []

    def name(i):
        return g.Tensors(i).Name().decode()

    def const(i):
        t = g.Tensors(i)
        b = m.Buffers(t.Buffer())
        if b is None or b.DataLength() == 0:
            return None
        a = np.frombuffer(b.DataAsNumpy().tobytes(), dtype=np_types[t.Type()])
        return a.reshape(shape(i))

    weights = {}  # tensor index -> float32 array (TFLite layout)
    ops = []
    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        oc = m.OperatorCodes(op.OpcodeIndex())
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        opname = opnames[code]
        ins = [int(op.Inputs(i)) for i in range(op.InputsLength())]
        outs = [int(op.Outputs(i)) for i in range(op.OutputsLength())]
        bo = op.BuiltinOptions()
        if opname == "DEQUANTIZE":
            a = const(ins[0])
            assert a is not None and a.dtype == np.float16, name(ins[0])
            weights[outs[0]] = a.astype(np.float32)
            continue
        rec = {"op": opname, "inputs": ins, "outputs": outs, "out_shape": shape(outs[0]),
               "in_shape": shape(ins[0])}
        if opname == "CONV_2D":
            o = tflite.Conv2DOptions()
            o.Init(bo.Bytes, bo.Pos)
            rec.update(padding="SAME" if o.Padding() == 0 else "VALID", stride=[o.StrideH(), o.StrideW()],
                       dilation=[o.DilationHFactor(), o.DilationWFactor()],
                       act=act_names[o.FusedActivationFunction()])
        elif opname == "DEPTHWISE_CONV_2D":
            o = tflite.DepthwiseConv2DOptions()
            o.Init(bo.Bytes, bo.Pos)
            rec.update(padding="SAME" if o.Padding() == 0 else "VALID", stride=[o.StrideH(), o.StrideW()],
                       dilation=[o.DilationHFactor(), o.DilationWFactor()],
                       depth_multiplier=o.DepthMultiplier(), act=act_names[o.FusedActivationFunction()])
        elif opname == "AVERAGE_POOL_2D":
            o = tflite.Pool2DOptions()
            o.Init(bo.Bytes, bo.Pos)
            rec.update(padding="SAME" if o.Padding() == 0 else "VALID", stride=[o.StrideH(), o.StrideW()],
                       filter=[o.FilterHeight(), o.FilterWidth()], act=act_names[o.FusedActivationFunction()])
        elif opname in ("ADD", "MUL"):
            o = tflite.AddOptions() if opname == "ADD" else tflite.MulOptions()
            o.Init(bo.Bytes, bo.Pos)
            rec.update(act=act_names[o.FusedActivationFunction()])
            for i in ins:
                c = const(i)
                if c is not None:
                    weights[i] = c.astype(np.float32)
        elif opname == "RESIZE_BILINEAR":
            o = tflite.ResizeBilinearOptions()
            o.Init(bo.Bytes, bo.Pos)
            rec.update(align_corners=bool(o.AlignCorners()), half_pixel_centers=bool(o.HalfPixelCenters()),
                       size=[int(v) for v in const(ins[1])])
        elif opname == "CUSTOM":
            cname = oc.CustomCode().decode()
            assert cname == "Convolution2DTransposeBias", cname
            opt = np.frombuffer(bytes(op.CustomOptionsAsNumpy()), dtype="<i4")
            rec.update(op="Convolution2DTransposeBias", padding="SAME" if opt[0] == 1 else "VALID",
                       stride=[int(opt[2]), int(opt[1])])
        elif opname in ("RELU", "HARD_SWISH", "LOGISTIC"):
            pass
        else:
            raise NotImplementedError(opname)
        rec["names"] = [name(i) for i in ins + outs]
        ops.append(rec)

    graph_in = [int(g.Inputs(i)) for i in range(g.InputsLength())]
    graph_out = [int(g.Outputs(i)) for i in range(g.OutputsLength())]
    assert len(graph_in) == 1 and len(graph_out) == 1
    assert ops[-1]["op"] == "LOGISTIC" and ops[-1]["outputs"] == graph_out
    info.update(input=graph_in[0], input_shape=shape(graph_in[0]), output=graph_out[0],
                output_shape=shape(graph_out[0]), logits=ops[-1]["inputs"][0],
                op_counts={})
    for r in ops:
        info["op_counts"][r["op"]] = info["op_counts"].get(r["op"], 0) + 1
    info["op_counts"]["DEQUANTIZE(folded)"] = len(weights)
    os.makedirs(args.work, exist_ok=True)
    with open(os.path.join(args.work, "graph.json"), "w") as f:
        json.dump({"info": info, "ops": ops}, f, indent=1)
    np.savez(os.path.join(args.work, "weights.npz"), **{str(k): v for k, v in weights.items()})
    with open(os.path.join(args.work, "selfie_segmentation.tflite"), "wb") as f:
        f.write(buf)
    if args.wheel:
        with zipfile.ZipFile(args.wheel) as z:
            with open(os.path.join(args.work, "MEDIAPIPE_LICENSE"), "wb") as f:
                f.write(z.read(LICENCE_MEMBER))
    print(json.dumps(info, indent=1))


# --------------------------------------------------------------------------- stage 2: build
def same_pad(in_size, k, s, d):
    """TFLite/TF SAME padding for one axis: (before, after), the extra cell after."""
    out = (in_size + s - 1) // s
    eff = (k - 1) * d + 1
    total = max((out - 1) * s + eff - in_size, 0)
    return total // 2, total - total // 2


def build_torch_graph(graph, weights):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class TfliteNet(nn.Module):
        """Executes the dumped TFLite op list in NCHW. Traced (static shapes) for export."""

        def __init__(self):
            super().__init__()
            self.steps = []
            self.mods = nn.ModuleDict()
            self.consts = {}
            for n, r in enumerate(graph["ops"]):
                op = r["op"]
                key = "op%03d_%s" % (n, r["names"][-1].replace("/", "_").replace(".", "_"))
                if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                    w = weights[str(r["inputs"][1])]
                    b = weights[str(r["inputs"][2])] if len(r["inputs"]) > 2 and r["inputs"][2] >= 0 else None
                    if op == "CONV_2D":
                        wt = w.transpose(0, 3, 1, 2)  # OHWI -> OIHW
                        groups = 1
                        cin = w.shape[3]
                    else:
                        assert r["depth_multiplier"] == 1
                        wt = w.transpose(3, 0, 1, 2)  # 1HWC -> C1HW
                        groups = w.shape[3]
                        cin = w.shape[3]
                    conv = nn.Conv2d(cin, wt.shape[0], wt.shape[2:], stride=r["stride"], dilation=r["dilation"],
                                     groups=groups, bias=b is not None)
                    conv.weight.data = torch.from_numpy(wt.copy())
                    if b is not None:
                        conv.bias.data = torch.from_numpy(b.copy())
                    self.mods[key] = conv
                    pad = None
                    if r["padding"] == "SAME":
                        _, ih, iw, _ = r["in_shape"]
                        ph = same_pad(ih, wt.shape[2], r["stride"][0], r["dilation"][0])
                        pw = same_pad(iw, wt.shape[3], r["stride"][1], r["dilation"][1])
                        if ph != (0, 0) or pw != (0, 0):
                            pad = [pw[0], pw[1], ph[0], ph[1]]
                    r = dict(r, key=key, pad=pad)
                elif op == "Convolution2DTransposeBias":
                    w = weights[str(r["inputs"][1])]  # O H W I
                    b = weights[str(r["inputs"][2])]
                    wt = w.transpose(3, 0, 1, 2)  # -> I O H W (ConvTranspose2d layout)
                    deconv = nn.ConvTranspose2d(wt.shape[0], wt.shape[1], wt.shape[2:], stride=r["stride"], bias=True)
                    deconv.weight.data = torch.from_numpy(wt.copy())
                    deconv.bias.data = torch.from_numpy(b.copy())
                    self.mods[key] = deconv
                    _, ih, iw, _ = r["in_shape"]
                    _, oh, ow, _ = r["out_shape"]
                    fh = (ih - 1) * r["stride"][0] + wt.shape[2]
                    fw = (iw - 1) * r["stride"][1] + wt.shape[3]
                    if r["padding"] == "SAME":
                        assert (oh, ow) == (ih * r["stride"][0], iw * r["stride"][1])
                    crop = [(fh - oh) // 2, (fw - ow) // 2, oh, ow]
                    r = dict(r, key=key, crop=crop, needs_crop=(fh, fw) != (oh, ow))
                elif op == "AVERAGE_POOL_2D":
                    assert r["padding"] == "VALID", "SAME average pool (excludes padded cells) not implemented"
                    _, ih, iw, _ = r["in_shape"]
                    r = dict(r, glob=(r["filter"] == [ih, iw]))
                elif op in ("ADD", "MUL"):
                    for i in r["inputs"]:
                        if str(i) in weights:
                            c = weights[str(i)]
                            c = c.transpose(0, 3, 1, 2) if c.ndim == 4 else c
                            self.register_buffer("c%d" % i, torch.from_numpy(c.copy()))
                            self.consts[i] = "c%d" % i
                elif op == "RESIZE_BILINEAR":
                    assert r["half_pixel_centers"] != r["align_corners"] or r["align_corners"], \
                        "legacy TF resize (no half-pixel centres, no align_corners) not implemented"
                self.steps.append(r)
            self.input = graph["info"]["input"]
            self.logits = graph["info"]["logits"]
            self.keep_logistic_output = False

        @staticmethod
        def act(x, a):
            if a == "NONE":
                return x
            if a == "RELU":
                return torch.relu(x)
            if a == "RELU6":
                return torch.clamp(x, 0.0, 6.0)
            if a == "RELU_N1_TO_1":
                return torch.clamp(x, -1.0, 1.0)
            if a == "TANH":
                return torch.tanh(x)
            raise NotImplementedError(a)

        def run(self, x, upto=None):
            t = {self.input: x}
            for r in self.steps:
                op = r["op"]
                get = lambda i: t[i] if i in t else getattr(self, self.consts[i])
                a = get(r["inputs"][0])
                if op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                    if r["pad"] is not None:
                        a = F.pad(a, r["pad"])
                    y = self.act(self.mods[r["key"]](a), r["act"])
                elif op == "Convolution2DTransposeBias":
                    y = self.mods[r["key"]](a)
                    c = r["crop"]
                    if r["needs_crop"]:
                        y = y[:, :, c[0]:c[0] + c[2], c[1]:c[1] + c[3]]
                elif op == "HARD_SWISH":
                    y = F.hardswish(a)
                elif op == "RELU":
                    y = torch.relu(a)
                elif op == "LOGISTIC":
                    y = torch.sigmoid(a)
                elif op == "ADD":
                    y = self.act(a + get(r["inputs"][1]), r["act"])
                elif op == "MUL":
                    y = self.act(a * get(r["inputs"][1]), r["act"])
                elif op == "AVERAGE_POOL_2D":
                    if r["glob"]:
                        y = a.mean(dim=(2, 3), keepdim=True)
                    else:
                        y = F.avg_pool2d(a, r["filter"], r["stride"])
                    y = self.act(y, r["act"])
                elif op == "RESIZE_BILINEAR":
                    y = F.interpolate(a, size=r["size"], mode="bilinear", align_corners=r["align_corners"])
                else:
                    raise NotImplementedError(op)
                t[r["outputs"][0]] = y
                if upto is None and r["outputs"][0] == self.logits:
                    return y
            return t

        def forward(self, x):
            return self.run(x)

    return TfliteNet()


def make_wrapper(net_traced):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def bilinear_taps(n_in: int, n_out: int):
        """Source rows/columns and weights of a bilinear resize from n_in to n_out samples with
        align_corners=False (half-pixel centres, edges clamped), as aten's upsample_bilinear2d
        computes them: src = max((i + 0.5) * n_in / n_out - 0.5, 0)."""
        scale = float(n_in) / float(n_out)
        src = ((torch.arange(n_out, dtype=torch.float32) + 0.5) * scale - 0.5).clamp(min=0.0)
        i0 = src.floor().to(torch.long).clamp(max=n_in - 1)
        i1 = (i0 + 1).clamp(max=n_in - 1)
        w1 = src - i0.to(torch.float32)
        w0 = 1.0 - w1
        return i0, i1, w0, w1

    def resize_bilinear(x: torch.Tensor, oh: int, ow: int) -> torch.Tensor:
        """Separable bilinear resize written as gathers, multiplications and additions.

        aten's upsample_bilinear2d gives results that depend on the intra-op thread count for
        3-channel inputs (measured: up to 4.8e-7 between 1 and 2 threads), and vectorized
        kernels may contract a*b + c into one FMA on some CPUs and not on others. Each op here
        is exact IEEE single precision element by element (gather; one rounding per mul and
        per add), so the result is the same at any thread count and on any CPU."""
        h = x.size(2)
        w = x.size(3)
        r0, r1, a0, a1 = bilinear_taps(h, oh)
        x = x.index_select(2, r0) * a0.view(1, 1, oh, 1) + x.index_select(2, r1) * a1.view(1, 1, oh, 1)
        c0, c1, b0, b1 = bilinear_taps(w, ow)
        return x.index_select(3, c0) * b0.view(1, 1, 1, ow) + x.index_select(3, c1) * b1.view(1, 1, 1, ow)

    class SelfieSegmentation(nn.Module):
        """[1,3,H,W] RGB in [0,1] -> [1,2,H,W] logits [0, z]; see convert_tflite.py's docstring."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = x.size(2)
            w = x.size(3)
            # stretch to 256x256, bilinear, align_corners=False, no antialias (as MediaPipe's CPU
            # ImageToTensorCalculator), in a thread- and CPU-invariant form
            y = resize_bilinear(x, 256, 256)
            z = self.net(y)
            # the logit map back to H x W, the same way
            z = resize_bilinear(z, h, w)
            return torch.cat([torch.zeros_like(z), z], dim=1)

    return torch.jit.script(SelfieSegmentation(net_traced))


def build(args):
    import numpy as np
    import torch

    torch.set_num_threads(1)
    with open(os.path.join(args.work, "graph.json")) as f:
        graph = json.load(f)
    weights = dict(np.load(os.path.join(args.work, "weights.npz")))
    info = graph["info"]
    net = build_torch_graph(graph, weights).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    example = torch.rand(1, 3, NET_SIZE, NET_SIZE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        traced = torch.jit.trace(net, example, check_trace=True)
        module = make_wrapper(traced)
    module.eval()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "model.pt")
    module.save(path)
    digest = sha256(open(path, "rb").read())

    # self-checks: shapes, determinism, background channel, sizes
    m2 = torch.jit.load(path)
    with torch.no_grad():
        for (h, w) in [(256, 256), (480, 640), (1024, 683), (17, 999), (1, 1)]:
            x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h * 10007 + w))
            a = m2(x)
            b = m2(x)
            assert a.shape == (1, 2, h, w) and a.dtype == torch.float32, a.shape
            assert torch.equal(a, b), "not deterministic"
            assert torch.count_nonzero(a[:, 0]) == 0
        z_eager = net(example)
        z_traced = traced(example)
        assert torch.equal(z_eager, z_traced)
    def kinds(block, acc):
        for n in block.nodes():
            acc.add(n.kind())
            for sb in n.blocks():
                kinds(sb, acc)
        return acc

    ops = sorted(kinds(m2.inlined_graph, set()))
    bad = [o for o in ops if not (o.startswith("aten::") or o.startswith("prim::"))]
    assert not bad, bad

    licence = ("Apache-2.0. Model: MediaPipe Selfie Segmentation, general 256x256 model "
               "(selfiesegmentation_mlkit-256x256-2021_01_19-v1215, the name in the .tflite), "
               "Copyright 2021 The MediaPipe Authors (header of mediapipe/python/solutions/selfie_segmentation.py), "
               "shipped in the mediapipe 0.10.14 wheel under the Apache License 2.0 "
               "(mediapipe-0.10.14.dist-info/LICENSE; wheel metadata: Apache 2.0). The wheel holds no model "
               "card; MediaPipe's published model card (not readable offline here) is to be checked for "
               "further terms of use. Converted by MaskOracle (layout change, float16 weights stored as float32); "
               "conversion scripts Apache-2.0.")
    provenance = (
        "Converted from %s (PyPI; sha256 %s), member %s (sha256 %s, %d bytes) by "
        "inference/models/convert_tflite.py with torch %s: every TFLite op mapped to aten (NHWC->NCHW, "
        "OHWI->OIHW, float16 weights dequantized to float32, TFLite SAME padding as explicit asymmetric "
        "pads, custom Convolution2DTransposeBias as ConvTranspose2d 2x2 stride 2), network traced at "
        "1x3x256x256 and wrapped in a scripted module. Pre-processing inside the module: the input "
        "[1,3,H,W] RGB in [0,1] is stretched to 256x256 (no letterbox; MediaPipe's "
        "selfie_segmentation_cpu graph uses ImageToTensorCalculator with keep_aspect_ratio false) with bilinear, "
        "align_corners=False, no antialias (as MediaPipe's CPU path), written as gathers, multiplications and "
        "additions so that it is exact per element at any thread count; output: the network's pre-sigmoid logit map (the final LOGISTIC "
        "dropped) at 256x256, resized to HxW with the same bilinear, returned as "
        "[1,2,H,W] = [zeros, z] (softmax = sigmoid(z))."
        % (info["wheel"], info.get("wheel_sha256"), info["tflite_path"], info["tflite_sha256"],
           info["tflite_bytes"], torch.__version__))
    manifest = {
        "format": 1,
        "name": "selfie-segmentation",
        "kind": "semantic",
        "labels": ["background", "person"],
        "input": {"max_size": 256, "min_size": 256},
        "thresholds": {"score": 0.5, "mask": 0.5},
        "sha256": digest,
        "licence": licence,
        "provenance": provenance,
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(json.dumps({"model": path, "sha256": digest, "bytes": os.path.getsize(path), "ops": ops,
                      "torch": torch.__version__}, indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump", help="stage 1 (venv with tflite + numpy)")
    src = d.add_mutually_exclusive_group(required=True)
    src.add_argument("--wheel", help="mediapipe-0.10.14 wheel")
    src.add_argument("--tflite", help="a .tflite file directly")
    d.add_argument("--work", default=os.path.expanduser("~/.cache/maskoracle/selfie-convert"))
    b = sub.add_parser("build", help="stage 2 (venv with torch 2.13.0)")
    b.add_argument("--work", default=os.path.expanduser("~/.cache/maskoracle/selfie-convert"))
    b.add_argument("--out", default="inference/models/selfie-segmentation")
    args = ap.parse_args()
    {"dump": dump, "build": build}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
