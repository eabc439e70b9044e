#!/usr/bin/env python3
"""LiteRT side of the selfie-segmentation benchmark (`cargo bench -p maskoracle-inference`).

Runs MediaPipe's original selfie_segmentation.tflite with LiteRT's XNNPACK delegate on one image
and times the same work the Rust whole pipeline does, minus hashing and result encoding: decode
the PNG, resize to 256x256 (bilinear), invoke, resize the probability map back to the image's
size (bilinear) and threshold it at 0.5. Prints one JSON line.

Needs the venv of inference/models/requirements-convert.txt (ai-edge-litert, numpy, pillow).
"""
import argparse
import io
import json
import time
import zipfile

import numpy as np
from PIL import Image

MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel", required=True, help="the mediapipe 0.10.14 wheel")
    ap.add_argument("--image", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=31)
    a = ap.parse_args()
    from ai_edge_litert.interpreter import Interpreter

    with zipfile.ZipFile(a.wheel) as z:
        model = z.read(MEMBER)
    it = Interpreter(model_content=model, num_threads=a.threads)
    it.allocate_tensors()
    inp = it.get_input_details()[0]["index"]
    out = it.get_output_details()[0]["index"]
    data = open(a.image, "rb").read()

    def pipeline():
        img = Image.open(io.BytesIO(data)).convert("RGB")
        w, h = img.size
        x = np.asarray(img.resize((256, 256), Image.BILINEAR), dtype=np.float32)[None] / 255.0
        it.set_tensor(inp, x)
        it.invoke()
        p = it.get_tensor(out)[0, :, :, 0]
        full = np.asarray(Image.fromarray(p, mode="F").resize((w, h), Image.BILINEAR))
        return full > 0.5

    def invoke_only(x):
        it.set_tensor(inp, x)
        it.invoke()
        return it.get_tensor(out)

    for _ in range(3):
        mask = pipeline()
    times, inv = [], []
    x = np.random.default_rng(0).random((1, 256, 256, 3), dtype=np.float32)
    for _ in range(a.repeat):
        t = time.perf_counter()
        mask = pipeline()
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        invoke_only(x)
        inv.append(time.perf_counter() - t)
    times.sort()
    inv.sort()
    print(json.dumps({"median_s": times[len(times) // 2], "invoke_median_s": inv[len(inv) // 2],
                      "person_fraction": float(mask.mean()), "threads": a.threads}))


if __name__ == "__main__":
    main()
