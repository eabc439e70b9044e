"""Shared helpers for the shapes models: model builders, tensors from scenes, evaluation.

Imported by train_shapes.py, train_semantic.py and python_reference.py; needs torch and
torchvision (the venv made by `scripts/setup --python`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from typing import Dict, List

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign

import scenes

MIN_SIZE = scenes.SIZE
MAX_SIZE = 320
IMAGE_MEAN = [0.5, 0.5, 0.5]
IMAGE_STD = [0.25, 0.25, 0.25]
SCORE_THRESHOLD = 0.5
MASK_THRESHOLD = 0.5
LICENCE = "Apache-2.0 (MaskOracle project; weights trained from scratch on generated data)"


NORMS = ("batch", "instance")


def norm_layer(channels: int, norm: str = "batch") -> nn.Module:
    """`batch`: BatchNorm2d (running statistics at inference). `instance`: InstanceNorm2d with a
    learned scale and shift and no running statistics, i.e. every image is normalised by its own
    per-channel statistics, in training and at inference alike. Both have the parameters `weight`
    and `bias`, so batch-norm weights load into the instance-norm model (minus the running
    statistics, which it does not have)."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)
    raise ValueError(f"unknown norm {norm!r} (one of {NORMS})")


def conv_bn(cin: int, cout: int, stride: int, norm: str = "batch") -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        norm_layer(cout, norm),
        nn.ReLU(inplace=True),
    )


class TinyFpnBackbone(nn.Module):
    """A small conv trunk (strides 4, 8, 16) under a 3-level feature pyramid.

    Input: normalised float32 [N, 3, H, W]; output: {"0": [N, C, H/4, W/4], "1": .../8, "2": .../16}.
    """

    def __init__(self, out_channels: int = 64, norm: str = "batch") -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 24, 2, norm), conv_bn(24, 32, 2, norm),
                                  conv_bn(32, 32, 1, norm))
        self.stage2 = nn.Sequential(conv_bn(32, 64, 2, norm), conv_bn(64, 64, 1, norm))
        self.stage3 = nn.Sequential(conv_bn(64, 128, 2, norm), conv_bn(128, 128, 1, norm))
        self.fpn = FeaturePyramidNetwork([32, 64, 128], out_channels)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        c2 = self.stem(x)
        c3 = self.stage2(c2)
        c4 = self.stage3(c3)
        feats: Dict[str, Tensor] = OrderedDict()
        feats["0"] = c2
        feats["1"] = c3
        feats["2"] = c4
        return self.fpn(feats)


def build_maskrcnn(num_classes: int = len(scenes.LABELS), norm: str = "batch") -> MaskRCNN:
    """The shipped `instance` model: a small Mask R-CNN sized for 192x192 scenes.

    `norm` is the trunk's normalisation (see `norm_layer`); the shipped model uses `instance`."""
    backbone = TinyFpnBackbone(64, norm)
    anchors = AnchorGenerator(
        sizes=((16, 24), (32, 48), (64, 96)),
        aspect_ratios=((0.5, 1.0, 2.0),) * 3,
    )
    names = ["0", "1", "2"]
    box_pool = MultiScaleRoIAlign(featmap_names=names, output_size=7, sampling_ratio=2)
    mask_pool = MultiScaleRoIAlign(featmap_names=names, output_size=14, sampling_ratio=2)
    box_head = TwoMLPHead(64 * 7 * 7, 256)
    return MaskRCNN(
        backbone,
        num_classes=None,
        min_size=MIN_SIZE,
        max_size=MAX_SIZE,
        image_mean=IMAGE_MEAN,
        image_std=IMAGE_STD,
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=600,
        rpn_pre_nms_top_n_test=300,
        rpn_post_nms_top_n_train=200,
        rpn_post_nms_top_n_test=100,
        rpn_batch_size_per_image=128,
        box_roi_pool=box_pool,
        box_head=box_head,
        box_predictor=FastRCNNPredictor(256, num_classes),
        box_score_thresh=0.2,
        box_detections_per_img=20,
        box_batch_size_per_image=128,
        mask_roi_pool=mask_pool,
        mask_head=MaskRCNNHeads(64, [64, 64], 1),
        mask_predictor=MaskRCNNPredictor(64, 64, num_classes),
    )


def norm_of_state_dict(state: Dict[str, Tensor]) -> str:
    """The trunk normalisation a shapes-maskrcnn state dict was made with."""
    return "batch" if any(k.endswith("running_mean") for k in state) else "instance"


def load_maskrcnn_weights(model: MaskRCNN, state: Dict[str, Tensor]) -> None:
    """Load `state` into `model`; batch-norm weights load into an instance-norm model by dropping
    the running statistics (nothing else may be missing or left over)."""
    own = model.state_dict()
    stats = ("running_mean", "running_var", "num_batches_tracked")
    state = {k: v for k, v in state.items() if k in own or not k.endswith(stats)}
    model.load_state_dict(state)


def maskrcnn_from_state_dict(state: Dict[str, Tensor]) -> MaskRCNN:
    """An eager shapes-maskrcnn with the given weights (e.g. a TorchScript file's state_dict())."""
    model = build_maskrcnn(norm=norm_of_state_dict(state))
    load_maskrcnn_weights(model, state)
    return model


def image_tensor(img: np.ndarray) -> Tensor:
    """uint8 [H, W, 3] RGB -> float32 [3, H, W] in [0, 1] (the pre-processing Rust mimics).

    The order matters for bitwise agreement: permute, make contiguous (so the tensor is a plain
    CHW tensor, not a channels-last view), convert, divide by 255.
    """
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous()
    return t.to(torch.float32).div(255.0)


def targets_for(instances: List[scenes.Instance]) -> Dict[str, Tensor]:
    if not instances:
        return {
            "boxes": torch.zeros((0, 4), dtype=torch.float32),
            "labels": torch.zeros((0,), dtype=torch.int64),
            "masks": torch.zeros((0, scenes.SIZE, scenes.SIZE), dtype=torch.uint8),
        }
    return {
        "boxes": torch.tensor([it.box for it in instances], dtype=torch.float32),
        "labels": torch.tensor([it.label for it in instances], dtype=torch.int64),
        "masks": torch.from_numpy(np.stack([it.mask for it in instances]).astype(np.uint8)),
    }


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def evaluate_instances(predict, seed: int, count: int) -> dict:
    """Mean mask IoU over every ground-truth instance of `count` scenes of `seed`.

    `predict(img_uint8) -> list of (label, score, bool mask)` after the score threshold. Each GT
    instance takes the best IoU among predicted masks of its label (0 when there is none).
    """
    ious: List[float] = []
    any_label: List[float] = []
    per_label: Dict[str, List[float]] = {name: [] for name in scenes.LABELS[1:]}
    false_positives = 0
    for i in range(count):
        img, instances = scenes.generate(seed, i)
        preds = predict(img)
        matched = set()
        for gt in instances:
            best, best_j = 0.0, -1
            for j, (label, _score, mask) in enumerate(preds):
                if label == gt.label:
                    iou = mask_iou(gt.mask, mask)
                    if iou > best:
                        best, best_j = iou, j
            if best_j >= 0:
                matched.add(best_j)
            ious.append(best)
            any_label.append(max([mask_iou(gt.mask, m) for _l, _s, m in preds], default=0.0))
            per_label[scenes.LABELS[gt.label]].append(best)
        false_positives += len(preds) - len(matched)
    return {
        "seed": seed,
        "scenes": count,
        "instances": len(ious),
        "mean_mask_iou": round(float(np.mean(ious)), 4),
        "median_mask_iou": round(float(np.median(ious)), 4),
        # Diagnostic: the same, ignoring labels (how much of the gap is classification).
        "mean_mask_iou_any_label": round(float(np.mean(any_label)), 4),
        "share_iou_ge_0.5": round(float(np.mean(np.array(ious) >= 0.5)), 4),
        "per_label_mean_iou": {k: round(float(np.mean(v)), 4) if v else None for k, v in per_label.items()},
        "unmatched_predictions": false_positives,
    }


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(model_dir: str, name: str, kind: str, labels: List[str], provenance: str,
                   min_size: int = MIN_SIZE, max_size: int = MAX_SIZE, licence: str = LICENCE,
                   score: float = SCORE_THRESHOLD, mask: float = MASK_THRESHOLD) -> dict:
    manifest = OrderedDict(
        format=1,
        name=name,
        kind=kind,
        labels=labels,
        input={"max_size": max_size, "min_size": min_size},
        thresholds={"score": score, "mask": mask},
        sha256=sha256_file(os.path.join(model_dir, "model.pt")),
        licence=licence,
        provenance=provenance,
    )
    with open(os.path.join(model_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest
