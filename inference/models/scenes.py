#!/usr/bin/env python3
"""Deterministic synthetic scenes for MaskOracle's test models (numpy + Pillow only).

A scene is an RGB image of SIZE x SIZE pixels: a textured background (smoothed noise, a linear
gradient, stripes or a checkerboard, mixed with noise) and 1 to MAX_OBJECTS filled shapes of
four classes (circle, square, triangle, cross) in random colours, sizes, positions and rotations.
Shapes may overlap a little: a later shape occludes earlier ones, and a placement is rejected when
it would hide more than MAX_HIDDEN of an earlier shape or overlap it by more than MAX_HIDDEN of
its own area. Ground truth per instance is the visible part: label, binary mask and box.

Scene `i` of seed `s` depends only on (s, i) (numpy's PCG64 seeded with [s, i]), so any scene can
be regenerated on its own and the training, held-out and fixture sets never share a scene when
their seeds differ.

Command line: write N scenes of one seed as PNG + JSON for other tools (the Rust tests):

    python3 scenes.py --seed 9001 --count 16 --out inference/tests/data/scenes

Each `scene_SSSS_IIII.png` has a `scene_SSSS_IIII.json` beside it:

    {"format": 1, "seed": 9001, "index": 0, "width": 192, "height": 192,
     "labels": ["background", "circle", "square", "triangle", "cross"],
     "instances": [{"label": 1, "name": "circle", "box": [x0, y0, x1, y1], "area": 1234,
                    "rle": [c0, c1, c2, ...]}, ...]}

`box` is [x0, x1) x [y0, y1) in pixels (exclusive ends, as in the on-chain summary). `rle` is the
mask in row-major order as alternating run lengths starting with a run of zeros (the first count
is 0 when the first pixel is set); the counts add up to width * height.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

LABELS = ["background", "circle", "square", "triangle", "cross"]
SIZE = 192
MAX_OBJECTS = 3
MIN_EXTENT = 44  # smallest shape diameter in pixels
MAX_EXTENT = 88  # largest shape diameter in pixels
MAX_HIDDEN = 0.25  # largest share of a shape another shape may cover
MIN_CONTRAST = 80.0  # least L1/3 distance between a shape's colour and the local background


@dataclass
class Instance:
    label: int
    mask: np.ndarray  # bool [H, W], the visible part
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive ends)

    @property
    def area(self) -> int:
        return int(self.mask.sum())


def _rng(seed: int, index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64([seed, index]))


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Value noise in [0, 1]: a cells x cells grid of random values, bilinearly upsampled."""
    grid = rng.random((cells + 1, cells + 1))
    t = np.linspace(0.0, cells, size, endpoint=False)
    i = t.astype(np.int64)
    f = t - i
    f = f * f * (3.0 - 2.0 * f)
    rows = grid[i] * (1.0 - f)[:, None] + grid[i + 1] * f[:, None]
    return rows[:, i] * (1.0 - f)[None, :] + rows[:, i + 1] * f[None, :]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A float32 [H, W, 3] background in [0, 255]."""
    kind = int(rng.integers(0, 4))
    c0 = rng.uniform(0, 255, 3)
    # The second texture colour is pulled towards the first: textures stay visible but weaker
    # than the shapes' edges.
    c1 = c0 + (rng.uniform(0, 255, 3) - c0) * rng.uniform(0.2, 0.5)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    if kind == 0:  # smooth noise
        w = _smooth_noise(rng, size, int(rng.integers(3, 9)))
    elif kind == 1:  # linear gradient at a random angle
        a = rng.uniform(0, 2 * math.pi)
        w = (math.cos(a) * xx + math.sin(a) * yy)
        w = (w - w.min()) / max(w.max() - w.min(), 1e-9)
    elif kind == 2:  # stripes at a random angle and period
        a = rng.uniform(0, math.pi)
        period = rng.uniform(0.05, 0.2)
        w = 0.5 + 0.5 * np.sin(2 * math.pi * (math.cos(a) * xx + math.sin(a) * yy) / period)
    else:  # checkerboard
        cell = int(rng.integers(12, 40))
        iy, ix = np.mgrid[0:size, 0:size]
        w = (((iy // cell) + (ix // cell)) % 2).astype(np.float64)
    img = c0[None, None, :] * (1.0 - w[..., None]) + c1[None, None, :] * w[..., None]
    img += rng.normal(0.0, rng.uniform(2.0, 8.0), img.shape)
    return np.clip(img, 0, 255).astype(np.float32)


def _polygon(label: int, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    def rot(points):
        ca, sa = math.cos(angle), math.sin(angle)
        return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in points]

    if label == 2:  # square, half-diagonal r
        s = r / math.sqrt(2.0)
        return rot([(-s, -s), (s, -s), (s, s), (-s, s)])
    if label == 3:  # equilateral triangle, circumradius r
        return rot([(r * math.cos(a), r * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)])
    if label == 4:  # cross (plus sign), arm half-width r / 3
        w = r / 3.0
        return rot([(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r),
                     (-w, w), (-r, w), (-r, -w), (-w, -w)])
    raise ValueError(f"no polygon for label {label}")


def _shape_mask(label: int, cx: float, cy: float, r: float, angle: float, size: int) -> np.ndarray:
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    if label == 1:
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        draw.polygon(_polygon(label, cx, cy, r, angle), fill=255)
    return np.asarray(canvas) > 127


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def generate(seed: int, index: int, size: int = SIZE) -> tuple[np.ndarray, list[Instance]]:
    """Scene `index` of `seed`: a uint8 [H, W, 3] image and its instances (visible masks)."""
    rng = _rng(seed, index)
    img = _background(rng, size)
    n = int(rng.integers(1, MAX_OBJECTS + 1))
    full: list[np.ndarray] = []  # full masks of placed shapes, in drawing order
    labels: list[int] = []
    visible: list[np.ndarray] = []
    for _ in range(n):
        for _attempt in range(30):
            label = int(rng.integers(1, len(LABELS)))
            r = rng.uniform(MIN_EXTENT, MAX_EXTENT) / 2.0
            cx = rng.uniform(r, size - r)
            cy = rng.uniform(r, size - r)
            angle = rng.uniform(0, 2 * math.pi)
            m = _shape_mask(label, cx, cy, r, angle, size)
            area = m.sum()
            if area < 0.5 * MIN_EXTENT * MIN_EXTENT / 2:
                continue
            ok = True
            for f, v in zip(full, visible):
                inter = (m & v).sum()
                if inter > MAX_HIDDEN * f.sum() or (m & f).sum() > MAX_HIDDEN * area:
                    ok = False
                    break
            if not ok:
                continue
            # A colour that stands out from the background under the shape.
            under = img[m].mean(axis=0)
            for _c in range(20):
                colour = rng.uniform(0, 255, 3)
                if np.abs(colour - under).mean() >= MIN_CONTRAST:
                    break
            else:
                colour = 255.0 - under
            shade = colour[None, :] + rng.normal(0.0, 4.0, (int(area), 3))
            img[m] = np.clip(shade, 0, 255)
            visible = [v & ~m for v in visible]
            full.append(m)
            labels.append(label)
            visible.append(m.copy())
            break
    instances = [Instance(label, v, _box(v)) for label, v in zip(labels, visible) if v.any()]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), instances


def rle_encode(mask: np.ndarray) -> list[int]:
    """Row-major run lengths, alternating zeros and ones, starting with zeros."""
    flat = mask.reshape(-1).astype(np.uint8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    return [int(c) for c in counts]


def rle_decode(counts: list[int], height: int, width: int) -> np.ndarray:
    flat = np.zeros(height * width, dtype=bool)
    pos = 0
    for k, c in enumerate(counts):
        if k % 2 == 1:
            flat[pos:pos + c] = True
        pos += c
    if pos != height * width:
        raise ValueError(f"RLE counts add up to {pos}, expected {height * width}")
    return flat.reshape(height, width)


def scene_json(seed: int, index: int, img: np.ndarray, instances: list[Instance]) -> dict:
    return {
        "format": 1,
        "seed": seed,
        "index": index,
        "width": int(img.shape[1]),
        "height": int(img.shape[0]),
        "labels": LABELS,
        "instances": [
            {"label": it.label, "name": LABELS[it.label], "box": list(it.box), "area": it.area,
             "rle": rle_encode(it.mask)}
            for it in instances
        ],
    }


def write_scenes(seed: int, count: int, out: str, size: int = SIZE) -> list[str]:
    os.makedirs(out, exist_ok=True)
    paths = []
    for i in range(count):
        img, instances = generate(seed, i, size)
        stem = os.path.join(out, f"scene_{seed:04d}_{i:04d}")
        # Fixed PNG settings so the same scene gives the same file bytes.
        Image.fromarray(img, "RGB").save(stem + ".png", optimize=False, compress_level=9)
        with open(stem + ".json", "w") as f:
            json.dump(scene_json(seed, i, img, instances), f, separators=(",", ":"))
            f.write("\n")
        paths.append(stem + ".png")
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True, help="scene seed (training uses 1; see README)")
    ap.add_argument("--count", type=int, default=5, help="number of scenes")
    ap.add_argument("--size", type=int, default=SIZE, help="image side in pixels")
    ap.add_argument("--out", required=True, help="output directory")
    args = ap.parse_args()
    for p in write_scenes(args.seed, args.count, args.out, args.size):
        print(p)


if __name__ == "__main__":
    main()
