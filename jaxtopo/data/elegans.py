"""C. elegans (BBBC010), the C.Elegans-small protocol of the SATLoss / BM-Loss comparison.

Images ``..._<Well>_w<1|2>_<GUID>.tif`` (Well = ``[A-E]\\d{2}``; w1 brightfield, w2 GFP) are
uint16 TIFFs of 696 x 520, read unchanged (an 8-bit conversion makes them black). Ground truth
``BBBC010_v1_foreground/<Well>_binary.png`` is RGBA with R = G = B in {0, 255}; the red channel
is used, foreground = R > 127. There are 100 wells, ordered A01, A02, ..., A24, B01, ..., D24,
E01, ..., E04.

Each well: the centre 340 x 340 crop (`jaxtopo.data.common.centre_crop`), downsampled to 96 x 96
with an area-weighted box filter (Pillow ``BOX`` on float32, so no 8-bit rounding); the label is
resized the same way as a {0, 1} float mask and re-binarised at >= 0.5. The image is then divided
by its own maximum (per-image max normalisation: brightfield and GFP intensities vary a lot
between wells and use a small part of the 16-bit range, so dividing by 65535 would leave
images nearly black), giving [0, 1] with max 1 (an all-zero image stays zero). Four 48 x 48
patches per well, row-major (top-left, top-right, bottom-left, bottom-right).

``root`` may be the folder holding the image folder and ``BBBC010_v1_foreground/``, or the image
folder itself with ``BBBC010_v1_foreground/`` beside it. The image folder is ``root`` itself or
any folder directly in it whose name starts with ``BBBC010`` and contains ``images`` (the
download unpacks to ``BBBC010_v2_images/``); it is the one holding ``_<Well>_w1_`` / ``_w2_`` TIFFs.
"""

from __future__ import annotations

import os
import re

import numpy as np
from PIL import Image

from jaxtopo.data.common import centre_crop, missing, patch_grid, read_image

DATASET = "C. elegans (BBBC010)"
SOURCE = "BBBC010 at the Broad Bioimage Benchmark Collection (https://bbbc.broadinstitute.org/BBBC010)"
LAYOUT = """BBBC010_v2_images/<prefix>_<Well>_w1_<GUID>.tif  (and _w2_), uint16 696x520, Well = A01..E04
BBBC010_v1_foreground/<Well>_binary.png             RGBA, R = G = B in {0, 255}"""
LABEL_FOLDER = "BBBC010_v1_foreground"
WELLS = [f"{row}{col:02d}" for row in "ABCDE" for col in range(1, 25)][:100]  # A01 .. E04
CROP, SIZE, PATCH = 340, 96, 48
GRID = (SIZE // PATCH, SIZE // PATCH)  # patch rows x columns of one well: 2 x 2
CHANNELS = ("w1", "w2")


def _span(first: str, last: str) -> list[str]:
    return WELLS[WELLS.index(first):WELLS.index(last) + 1]


# C.Elegans-small folds (docs/datasets.md section 7); each partitions the 100 wells into 70 / 10 / 20
FOLDS = {
    1: dict(train=_span("A01", "C22"), val=_span("C23", "D08"), test=_span("D09", "E04")),
    2: dict(train=_span("B07", "E04"), val=_span("A01", "A10"), test=_span("A11", "B06")),
    3: dict(train=_span("A01", "B16") + _span("C23", "E04"), val=_span("C13", "C22"), test=_span("B17", "C12")),
}
_NAME = re.compile(r"_([A-E]\d\d)_(w[12])_[^_]+\.tif$", re.IGNORECASE)


def _image_files(folder: str) -> dict[tuple[str, str], list[str]]:
    """{(well, channel): [file names]} of the BBBC010 TIFFs in ``folder``."""
    files: dict[tuple[str, str], list[str]] = {}
    for name in sorted(os.listdir(folder)):
        match = _NAME.search(name)
        if match:
            files.setdefault((match.group(1).upper(), match.group(2).lower()), []).append(name)
    return files


def _folders(root: str) -> tuple[str, str]:
    """(image folder, label folder)."""
    if not os.path.isdir(root):
        raise missing(DATASET, root, LAYOUT, SOURCE, "the folder does not exist")
    candidates = [root] + [os.path.join(root, name) for name in sorted(os.listdir(root))
                           if name.upper().startswith("BBBC010") and "images" in name.lower()
                           and os.path.isdir(os.path.join(root, name))]
    image_dir = next((c for c in candidates if _image_files(c)), None)
    if image_dir is None:
        raise missing(DATASET, root, LAYOUT, SOURCE, "no <prefix>_<Well>_w1_<GUID>.tif images "
                      "in it or in a BBBC010_*images folder inside it")
    for base in (root, os.path.dirname(os.path.abspath(image_dir))):
        label_dir = os.path.join(base, LABEL_FOLDER)
        if os.path.isdir(label_dir):
            return image_dir, label_dir
    raise missing(DATASET, root, LAYOUT, SOURCE, f"no {LABEL_FOLDER} folder (the foreground ground truth)")


def _well_paths(root: str, image_dir: str, label_dir: str, channel: str) -> dict[str, tuple[str, str]]:
    """{well: (image path, label path)} for all 100 wells (the folds partition them); names what is absent."""
    files = _image_files(image_dir)
    absent, paths = [], {}
    for well in WELLS:
        names = files.get((well, channel), [])
        if len(names) > 1:
            raise ValueError(f"{DATASET}: several images of well {well} channel {channel}: {', '.join(names)}")
        label_path = os.path.join(label_dir, f"{well}_binary.png")
        if not names:
            absent.append(f"the image of well {well} channel {channel} (*_{well}_{channel}_*.tif)")
        if not os.path.isfile(label_path):
            absent.append(label_path)
        if names and os.path.isfile(label_path):
            paths[well] = (os.path.join(image_dir, names[0]), label_path)
    if absent:
        shown = ", ".join(absent[:6]) + (f" and {len(absent) - 6} more" if len(absent) > 6 else "")
        raise missing(DATASET, root, LAYOUT, SOURCE, f"all 100 wells A01..E04 are needed; missing {shown}")
    return paths


def _shrink(array: np.ndarray) -> np.ndarray:
    """Centre 340 x 340 crop, then a 96 x 96 area-weighted (box filter) resize, in float32."""
    crop = np.ascontiguousarray(centre_crop(array, CROP, CROP), dtype=np.float32)
    return np.array(Image.fromarray(crop, mode="F").resize((SIZE, SIZE), Image.Resampling.BOX))


def _read_well(image_path: str, label_path: str) -> tuple[np.ndarray, np.ndarray]:
    """Image patches float32 [4, 48, 48, 1] (scaled by the image's max) and label patches [4, 48, 48]."""
    image = read_image(image_path)  # no mode: uint16 stays uint16
    label = read_image(label_path)
    label = label[..., 0] if label.ndim == 3 else label  # RGBA with R = G = B: the red channel
    if image.ndim != 2 or image.shape != label.shape or min(image.shape) < CROP:
        raise ValueError(f"{DATASET}: {image_path} has shape {image.shape} and {label_path} has shape "
                         f"{label.shape}; expected one-channel 520 x 696 images of the same size")
    image = _shrink(image)
    image /= max(float(image.max()), np.finfo(np.float32).tiny)  # per-image max normalisation
    label = (_shrink((label > 127).astype(np.float32)) >= 0.5).astype(np.float32)
    return patch_grid(image[..., None], PATCH), patch_grid(label, PATCH)


def load_elegans_small(root: str, *, fold: int = 1, channel: str = "w1") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """C.Elegans-small: BBBC010 wells, centre 340 crop -> 96 x 96 -> four 48 x 48 patches, 3 folds.

    ``fold`` in {1, 2, 3} (docs/datasets.md section 7: fold 1 train A01-C22 / val C23-D08 / test D09-E04; fold 2
    train B07-E04 / val A01-A10 / test A11-B06; fold 3 train A01-B16 + C23-E04 / val C13-C22 /
    test B17-C12), ``channel`` "w1" (brightfield, default) or "w2" (GFP).

    Returns {"train"|"val"|"test": (images float32 [N, 48, 48, 1] in [0, 1], labels float32
    [N, 48, 48] in {0, 1})}, N = 4 x wells (70 / 10 / 20), ordered by well then row-major patch.
    All 100 wells (image of ``channel`` and label) must be present whatever the fold. Raises
    DatasetNotFoundError (missing folder, images or labels, naming them), CorruptFileError
    (undecodable file), ValueError (bad fold or channel, two files for one well, wrong sizes).
    """
    if fold not in FOLDS or isinstance(fold, bool):
        raise ValueError(f"C. elegans: fold must be 1, 2 or 3, got {fold!r}")
    if channel not in CHANNELS:
        raise ValueError(f"C. elegans: channel must be 'w1' (brightfield) or 'w2' (GFP), got {channel!r}")
    image_dir, label_dir = _folders(root)
    paths = _well_paths(root, image_dir, label_dir, channel)
    splits = {}
    for split, wells in FOLDS[fold].items():
        count = len(wells) * (SIZE // PATCH) ** 2
        images = np.empty((count, PATCH, PATCH, 1), np.float32)
        labels = np.empty((count, PATCH, PATCH), np.float32)
        for index, well in enumerate(wells):
            rows = slice(index * 4, (index + 1) * 4)
            images[rows], labels[rows] = _read_well(*paths[well])
        splits[split] = (images, labels)
    return splits
