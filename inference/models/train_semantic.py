#!/usr/bin/env python3
"""Train, script and evaluate MaskOracle's optional `semantic` model (shapes-semantic).

A tiny segmentation network (strided conv trunk to 1/32, an LR-ASPP-style gated head, a top-down
decoder to 1/4, bilinear upsampling to the input size; normalisation inside the model) is trained from
scratch on the CPU on scenes.py scenes of the training seed, with per-pixel cross-entropy. It is
scripted, saved with its manifest, loaded back and evaluated on held-out scenes: per-class pixel
IoU, and the instance mask IoU the Rust side sees (4-connected components of each class, each GT
instance matched to the best component of its label; missed = 0).

    "$MASKORACLE_VENV/bin/python" inference/models/train_semantic.py
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import deque

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402
import shapes_common as sc  # noqa: E402

TRAIN_SEED = 2
EVAL_SEED = 7777
TORCH_SEED = 20261125
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "shapes-semantic")


class TinySegNet(nn.Module):
    """[N, 3, H, W] in [0, 1] -> logits [N, C, H, W].

    A strided conv trunk down to 1/32 (receptive field wide enough to see a whole shape), an
    LR-ASPP-style globally gated head at 1/32, and a light top-down decoder that adds 1/16, 1/8
    and 1/4 features before the classifier; bilinear upsampling to the input size.
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(sc.IMAGE_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(sc.IMAGE_STD).view(1, 3, 1, 1))
        self.c4 = nn.Sequential(sc.conv_bn(3, 16, 2), sc.conv_bn(16, 32, 2), sc.conv_bn(32, 32, 1))
        self.c8 = nn.Sequential(sc.conv_bn(32, 64, 2), sc.conv_bn(64, 64, 1))
        self.c16 = nn.Sequential(sc.conv_bn(64, 96, 2), sc.conv_bn(96, 96, 1))
        self.c32 = nn.Sequential(sc.conv_bn(96, 128, 2), sc.conv_bn(128, 128, 1))
        self.cbr = nn.Sequential(nn.Conv2d(128, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True))
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(128, 64, 1), nn.Sigmoid())
        self.l16 = nn.Conv2d(96, 64, 1)
        self.l8 = nn.Conv2d(64, 64, 1)
        self.l4 = nn.Conv2d(32, 64, 1)
        self.d16 = sc.conv_bn(64, 64, 1)
        self.d8 = sc.conv_bn(64, 64, 1)
        self.d4 = sc.conv_bn(64, 64, 1)
        self.classifier = nn.Conv2d(64, num_classes, 1)

    @staticmethod
    def _up(x: Tensor, like: Tensor) -> Tensor:
        return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        x = (x - self.mean) / self.std
        c4 = self.c4(x)
        c8 = self.c8(c4)
        c16 = self.c16(c8)
        c32 = self.c32(c16)
        y = self.cbr(c32) * self.scale(c32)
        y = self.d16(self._up(y, c16) + self.l16(c16))
        y = self.d8(self._up(y, c8) + self.l8(c8))
        y = self.d4(self._up(y, c4) + self.l4(c4))
        y = self.classifier(y)
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


def class_map(instances, size: int) -> np.ndarray:
    m = np.zeros((size, size), dtype=np.int64)
    for it in instances:
        m[it.mask] = it.label
    return m


def components(mask: np.ndarray) -> list[np.ndarray]:
    """4-connected components of a bool mask (plain BFS; scenes are small)."""
    h, w = mask.shape
    seen = np.zeros_like(mask)
    out = []
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        comp = np.zeros_like(mask)
        q = deque([(y0, x0)])
        seen[y0, x0] = True
        while q:
            y, x = q.popleft()
            comp[y, x] = True
            for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not seen[yy, xx]:
                    seen[yy, xx] = True
                    q.append((yy, xx))
        out.append(comp)
    return out


def evaluate(module, count: int) -> dict:
    n = len(scenes.LABELS)
    inter = np.zeros(n)
    union = np.zeros(n)

    def predict(img):
        with torch.no_grad():
            logits = module(sc.image_tensor(img)[None])
        cls = logits[0].argmax(0).numpy()
        preds = []
        for label in range(1, n):
            for comp in components(cls == label):
                preds.append((label, 1.0, comp))
        return preds

    def predict_and_count(img):
        preds = predict(img)
        return preds

    result = sc.evaluate_instances(predict_and_count, EVAL_SEED, count)
    for i in range(count):
        img, instances = scenes.generate(EVAL_SEED, i)
        gt = class_map(instances, img.shape[0])
        with torch.no_grad():
            pred = module(sc.image_tensor(img)[None])[0].argmax(0).numpy()
        for c in range(n):
            inter[c] += np.logical_and(gt == c, pred == c).sum()
            union[c] += np.logical_or(gt == c, pred == c).sum()
    iou = inter / np.maximum(union, 1)
    result["pixel_iou"] = {scenes.LABELS[c]: round(float(iou[c]), 4) for c in range(n)}
    result["pixel_miou"] = round(float(iou.mean()), 4)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-scenes", type=int, default=60)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--eval-only", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "model.pt")
    if not args.eval_only:
        torch.manual_seed(TORCH_SEED)
        model = TinySegNet(len(scenes.LABELS))
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
        t0 = time.time()
        running = None
        for step in range(args.steps):
            for g in opt.param_groups:
                g["lr"] = args.lr * 0.5 * (1.0 + math.cos(math.pi * step / args.steps))
            imgs, maps = [], []
            for k in range(args.batch):
                img, instances = scenes.generate(TRAIN_SEED, step * args.batch + k)
                imgs.append(sc.image_tensor(img))
                maps.append(torch.from_numpy(class_map(instances, img.shape[0])))
            loss = F.cross_entropy(model(torch.stack(imgs)), torch.stack(maps))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running = float(loss.detach()) if running is None else 0.9 * running + 0.1 * float(loss.detach())
            if step % 25 == 0 or step == args.steps - 1:
                el = time.time() - t0
                print(f"step {step:4d}/{args.steps} loss={running:.4f} elapsed={el:.0f}s", flush=True)
        seconds = time.time() - t0
        model.eval()
        torch.jit.script(model).save(path)
        provenance = (
            f"inference/models/train_semantic.py: TinySegNet trained from scratch on scenes.py scenes "
            f"of seed {TRAIN_SEED} ({args.steps} steps x {args.batch} scenes, AdamW lr {args.lr}, torch "
            f"seed {TORCH_SEED}, {args.threads} threads, {seconds:.0f} s on CPU); held-out eval seed {EVAL_SEED}"
        )
        sc.write_manifest(args.out, "shapes-semantic", "semantic", scenes.LABELS, provenance)
    module = torch.jit.load(path)
    module.eval()
    result = evaluate(module, args.eval_scenes)
    result["model_sha256"] = sc.sha256_file(path)
    if not args.eval_only:
        result["train"] = {"steps": args.steps, "batch": args.batch, "lr": args.lr,
                           "threads": args.threads, "seconds": round(seconds)}
    with open(os.path.join(args.out, "eval.json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
