#!/usr/bin/env python3
"""Export torchvision's COCO Mask R-CNN (ResNet-50 FPN) to a MaskOracle model directory.

Operators with internet access run it as is: torchvision downloads its COCO weights
(MaskRCNN_ResNet50_FPN_Weights.COCO_V1, BSD-3-Clause code; see torchvision's model docs for the
weights' terms) and the script writes `model.pt` (TorchScript) + `manifest.json`:

    "$MASKORACLE_VENV/bin/python" inference/models/export_coco_maskrcnn.py --out models/coco-maskrcnn

`--random-weights` builds the same architecture with random weights and downloads nothing. It is
the only mode that works on the project's offline machines; the benchmark and the Rust loading
test use it. Its output (~170 MB) is NOT committed; the default directory is under target/.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
import torchvision
from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights, maskrcnn_resnet50_fpn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes_common as sc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# torchvision's 91-entry COCO category list (index = label id; "N/A" marks unused ids).
COCO_CATEGORIES = [
    "__background__", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck",
    "boat", "traffic light", "fire hydrant", "N/A", "stop sign", "parking meter", "bench", "bird",
    "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "N/A",
    "backpack", "umbrella", "N/A", "N/A", "handbag", "tie", "suitcase", "frisbee", "skis",
    "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "N/A", "wine glass", "cup", "fork", "knife", "spoon", "bowl",
    "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut",
    "cake", "chair", "couch", "potted plant", "bed", "N/A", "dining table", "N/A", "N/A", "toilet",
    "N/A", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven",
    "toaster", "sink", "refrigerator", "N/A", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
]
assert len(COCO_CATEGORIES) == 91


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=None, help="model directory (default target/models/coco-maskrcnn[-random])")
    ap.add_argument("--random-weights", action="store_true", help="random weights, no download (offline)")
    ap.add_argument("--seed", type=int, default=0, help="torch seed for --random-weights")
    ap.add_argument("--min-size", type=int, default=800, help="GeneralizedRCNNTransform min_size")
    ap.add_argument("--max-size", type=int, default=1333, help="GeneralizedRCNNTransform max_size")
    args = ap.parse_args()

    if args.random_weights:
        torch.manual_seed(args.seed)
        model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91,
                                      min_size=args.min_size, max_size=args.max_size)
        name = "coco-maskrcnn-random"
        provenance = (f"inference/models/export_coco_maskrcnn.py --random-weights --seed {args.seed}: "
                      f"torchvision {torchvision.__version__} maskrcnn_resnet50_fpn architecture with "
                      f"RANDOM weights (for benchmarks and loading tests; detections are meaningless)")
        licence = "Apache-2.0 (MaskOracle project; random weights); architecture code torchvision BSD-3-Clause"
    else:
        weights = MaskRCNN_ResNet50_FPN_Weights.COCO_V1
        model = maskrcnn_resnet50_fpn(weights=weights, min_size=args.min_size, max_size=args.max_size)
        name = "coco-maskrcnn"
        provenance = (f"inference/models/export_coco_maskrcnn.py: torchvision {torchvision.__version__} "
                      f"maskrcnn_resnet50_fpn with {weights} ({weights.url})")
        licence = ("torchvision code BSD-3-Clause; COCO_V1 weights as published by torchvision "
                   "(trained on COCO 2017; check the dataset's and torchvision's terms before use)")
    model.eval()

    out = args.out or os.path.join(ROOT, "target", "models", name)
    os.makedirs(out, exist_ok=True)
    scripted = torch.jit.script(model)
    scripted.save(os.path.join(out, "model.pt"))
    manifest = sc.write_manifest(out, name, "instance", COCO_CATEGORIES, provenance,
                                 min_size=args.min_size, max_size=args.max_size, licence=licence,
                                 score=0.5, mask=0.5)
    size = os.path.getsize(os.path.join(out, "model.pt"))
    print(f"wrote {out}/model.pt ({size / 1e6:.1f} MB, sha256 {manifest['sha256']}) and manifest.json")


if __name__ == "__main__":
    main()
