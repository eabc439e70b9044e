#!/usr/bin/env python3
"""Python side of `cargo bench -p maskoracle-inference`: eager-mode time per image.

For the shipped shapes Mask R-CNN (eager modules rebuilt with inference/models/shapes_common.py,
weights taken from the shipped TorchScript file) and for torchvision's Mask R-CNN R50-FPN with
random weights (seed 0; exported here to --r50-dir as model.pt + manifest.json for the Rust
side), time `model([img])` on one image at the given thread count: median of --repeat runs after
one warm-up. Prints one JSON object on stdout.
"""

import argparse
import hashlib
import json
import os
import resource
import sys
import time

import numpy as np
import torch
from PIL import Image
from torchvision.models.detection import maskrcnn_resnet50_fpn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def tensor(path):
    img = np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous().to(torch.float32).div(255.0)


def masks_sha(out, thr=0.5):
    m = (out["masks"][:, 0] > thr).to(torch.uint8).contiguous().numpy()
    return hashlib.sha256(m.tobytes()).hexdigest()


def timed(model, img, repeat):
    with torch.no_grad():
        out = model([img])
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            out = model([img])
            times.append(time.perf_counter() - t)
    if isinstance(out, tuple):
        out = out[1]
    return sorted(times)[len(times) // 2], out[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", required=True)
    ap.add_argument("--r50-dir", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--repeat-r50", type=int, default=None, help="runs for the R50 (default: --repeat)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    img = tensor(a.image)
    report = {}

    sys.path.insert(0, os.environ.get("MASKORACLE_MODELS_SRC", os.path.join(ROOT, "inference", "models")))
    import shapes_common as sc  # noqa: E402

    scripted = torch.jit.load(os.path.join(a.shapes, "model.pt")).eval()
    eager = sc.maskrcnn_from_state_dict(scripted.state_dict()).eval()
    t_eager, out_eager = timed(eager, img, a.repeat)
    t_script, out_script = timed(scripted, img, a.repeat)
    report["shapes"] = {"eager_s": t_eager, "script_s": t_script,
                        "eager_equals_script": masks_sha(out_eager) == masks_sha(out_script)
                        and torch.equal(out_eager["labels"], out_script["labels"]),
                        "detections": int(out_eager["labels"].numel()),
                        "masks_sha256": masks_sha(out_eager)}

    torch.manual_seed(0)
    r50 = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None).eval()
    os.makedirs(a.r50_dir, exist_ok=True)
    pt = os.path.join(a.r50_dir, "model.pt")
    if not os.path.exists(pt):
        torch.jit.script(r50).save(pt)
        sha = hashlib.sha256(open(pt, "rb").read()).hexdigest()
        manifest = {"format": 1, "name": "maskrcnn-r50-fpn-random", "kind": "instance",
                    "labels": ["background"] + [f"class{i}" for i in range(1, 91)],
                    "input": {"max_size": 1333, "min_size": 800},
                    "thresholds": {"score": 0.05, "mask": 0.5}, "sha256": sha,
                    "licence": "BSD-3-Clause architecture (torchvision); random weights",
                    "provenance": "inference/benches/python_eager.py, torch.manual_seed(0)"}
        with open(os.path.join(a.r50_dir, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=2)
    else:
        r50.load_state_dict(torch.jit.load(pt).state_dict())
    t_eager, out_eager = timed(r50, img, a.repeat_r50 or a.repeat)
    # Model FLOPs of one R50 call on this image (2 per multiply-add; convolutions and matrix
    # products, which are ~all of them), counted by torch's own FlopCounterMode.
    from torch.utils.flop_counter import FlopCounterMode
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        r50([img])
    report["r50"] = {"eager_s": t_eager, "detections": int(out_eager["labels"].numel()),
                     "masks_sha256": masks_sha(out_eager), "flops": counter.get_total_flops()}
    report["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report["threads"] = a.threads
    print(json.dumps(report))


if __name__ == "__main__":
    main()
