#!/usr/bin/env python3
"""Record Python's raw outputs of the shipped models, for the Rust side to compare against.

For every shipped model directory and every image matched by --images (default: the generated
scenes in inference/tests/data/scenes/ and any photos in inference/tests/data/photos/; PNG and
JPEG, sorted by path), at 1 and 2 intra-op threads, this runs the model's
`model.pt` (the same TorchScript file Rust loads, checked against its manifest's sha256) and writes
inference/tests/fixtures/python_reference.json.

Pre-processing, which the Rust side must mimic exactly:
  1. decode the file (Pillow here), apply the EXIF orientation, convert to RGB8;
  2. uint8 [H, W, 3] -> float32 [3, H, W], divided by 255 (no other normalisation: the models
     normalise and, for `instance` models, resize inside);
  3. `instance`: `module.forward([img])` -> `(losses, [{boxes, labels, scores, masks}])`;
     `semantic`: `module.forward(img[None])` -> logits [1, C, H, W] (or {"out": ...}).
`rgb_sha256` is the sha256 of the RGB8 bytes after step 1, so a test can tell a decoder difference
(possible for JPEG) from a model difference.

Recorded per (model, image, threads):
  - `instance`: every detection the model returns (no score filter), in the model's order:
    label, score rounded to 6 dp, box rounded to 3 dp, `mask_area` = pixels with probability
    strictly above the manifest's mask threshold (0.5); `masks_sha256` = sha256 of the
    thresholded masks as uint8 0/1 bytes [N, H, W], concatenated in detection order.
  - `semantic`: `classes_sha256` = sha256 of the per-pixel argmax as uint8 bytes [H, W]
    (ties go to the lower class index), and `class_pixels` = pixel count per class.
  - `eager_matches_scripted` (instance only): the same weights run eagerly (Python modules, not
    TorchScript) give identical labels, masks_sha256 and scores/boxes within rounding.

    source .toolchain/env.sh
    "$MASKORACLE_VENV/bin/python" inference/models/python_reference.py
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import shapes_common as sc  # noqa: E402

MODELS = ["inference/models/shapes-maskrcnn", "inference/models/shapes-semantic"]  # those present
DEFAULT_IMAGES = ["inference/tests/data/scenes/*.png", "inference/tests/data/photos/*"]
OUT = "inference/tests/fixtures/python_reference.json"
THREADS = [1, 2]


def decode_rgb8(path: str) -> np.ndarray:
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def instance_record(out: dict, mask_threshold: float) -> dict:
    masks = (out["masks"][:, 0] > mask_threshold).to(torch.uint8).contiguous()
    return {
        "detections": [
            {"label": int(label), "score": round(float(score), 6),
             "box": [round(float(v), 3) for v in box], "mask_area": int(m.sum())}
            for label, score, box, m in zip(out["labels"], out["scores"], out["boxes"], masks)
        ],
        "masks_sha256": hashlib.sha256(masks.numpy().tobytes()).hexdigest(),
    }


def semantic_record(logits: torch.Tensor, num_classes: int) -> dict:
    classes = logits[0].argmax(dim=0).to(torch.uint8).contiguous().numpy()
    counts = np.bincount(classes.reshape(-1), minlength=num_classes)
    return {
        "classes_sha256": hashlib.sha256(classes.tobytes()).hexdigest(),
        "class_pixels": [int(c) for c in counts],
    }


def run_model(model_dir: str, images: list[str]) -> dict:
    manifest_path = os.path.join(ROOT, model_dir, "manifest.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    pt = os.path.join(ROOT, model_dir, "model.pt")
    actual = sc.sha256_file(pt)
    if actual != manifest["sha256"]:
        raise SystemExit(f"{pt}: sha256 {actual} does not match its manifest ({manifest['sha256']})")
    module = torch.jit.load(pt)
    module.eval()
    kind = manifest["kind"]
    mask_threshold = float(manifest["thresholds"]["mask"])
    eager = None
    if kind == "instance" and manifest["name"] == "shapes-maskrcnn":
        eager = sc.maskrcnn_from_state_dict(module.state_dict())
        eager.eval()
    runs = []
    for path in images:
        rgb = decode_rgb8(os.path.join(ROOT, path))
        img = sc.image_tensor(rgb)
        for threads in THREADS:
            torch.set_num_threads(threads)
            rec = {"image": path, "image_sha256": sc.sha256_file(os.path.join(ROOT, path)),
                   "rgb_sha256": hashlib.sha256(rgb.tobytes()).hexdigest(),
                   "width": int(rgb.shape[1]), "height": int(rgb.shape[0]), "threads": threads}
            with torch.no_grad():
                if kind == "instance":
                    _, out = module([img])
                    rec.update(instance_record(out[0], mask_threshold))
                    if eager is not None:
                        e = instance_record(eager([img])[0], mask_threshold)
                        rec["eager_matches_scripted"] = e == {k: rec[k] for k in e}
                else:
                    logits = module(img[None])
                    if isinstance(logits, dict):
                        logits = logits["out"]
                    rec.update(semantic_record(logits, len(manifest["labels"])))
            runs.append(rec)
            print(f"{manifest['name']} {path} threads={threads}: "
                  f"{len(rec.get('detections', []))} detections", flush=True)
    return {"dir": model_dir, "name": manifest["name"], "kind": kind, "sha256": manifest["sha256"],
            "mask_threshold": mask_threshold, "runs": runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=OUT, help="fixture path, relative to the repository root")
    ap.add_argument("--images", nargs="*", default=DEFAULT_IMAGES,
                    help="globs relative to the repository root (default: scenes and photos)")
    args = ap.parse_args()
    images = sorted({
        os.path.relpath(p, ROOT)
        for pattern in args.images
        for p in glob.glob(os.path.join(ROOT, pattern), recursive=True)
        if os.path.splitext(p)[1].lower() in (".png", ".jpg", ".jpeg")
    })
    # Hostile-input samples are not reference images: only files Pillow decodes cleanly.
    usable = []
    for p in images:
        try:
            decode_rgb8(os.path.join(ROOT, p))
            usable.append(p)
        except Exception as e:  # noqa: BLE001 - any decoder failure means "not a reference image"
            print(f"skipping {p}: {e}", file=sys.stderr)
    models = [m for m in MODELS if os.path.exists(os.path.join(ROOT, m, "model.pt"))]
    fixture = {
        "format": 1,
        "generator": "inference/models/python_reference.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "preprocessing": "decode, EXIF orientation, RGB8; float32 CHW / 255",
        "threads": THREADS,
        "models": [run_model(m, usable) for m in models],
    }
    out = os.path.join(ROOT, args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: {len(models)} models x {len(usable)} images x {len(THREADS)} thread counts")


if __name__ == "__main__":
    main()
