#!/usr/bin/env python3
"""Regenerate data/fashion-mnist-subset/ from the full Fashion-MNIST IDX files.

Keeps the first 1,000 training images and the first 200 test images of each
class, in their original order, and writes them as gzipped IDX (level 9,
mtime 0) so the output is identical on every run.

Usage: make-fashion-mnist-subset.py [SOURCE_DIR] [OUTPUT_DIR]
  SOURCE_DIR defaults to /usr/share/datasets/fashion-mnist
  OUTPUT_DIR defaults to fashion-mnist-subset/ next to this script
"""

import gzip
import os
import struct
import sys

PER_CLASS = {"train": 1000, "t10k": 200}
CLASSES = 10
IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801


def read_idx(path, magic):
    """Return (dims, payload) of an IDX file after checking its magic number."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    found = struct.unpack(">I", data[:4])[0]
    if found != magic:
        sys.exit(f"{path}: wrong IDX magic 0x{found:08x}, expected 0x{magic:08x}")
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return dims, data[4 + 4 * ndim :]


def write_idx(path, magic, dims, payload):
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as f:
        f.write(gzip.compress(header + payload, compresslevel=9, mtime=0))


def subset(source, output, split, per_class):
    dims, images = read_idx(os.path.join(source, f"{split}-images-idx3-ubyte.gz"), IMAGE_MAGIC)
    (count,), labels = read_idx(os.path.join(source, f"{split}-labels-idx1-ubyte.gz"), LABEL_MAGIC)
    if dims[0] != count:
        sys.exit(f"{split}: {dims[0]} images but {count} labels")
    size = dims[1] * dims[2]
    taken = [0] * CLASSES
    keep = []
    for i, label in enumerate(labels):
        if taken[label] < per_class:
            taken[label] += 1
            keep.append(i)
    if taken != [per_class] * CLASSES:
        sys.exit(f"{split}: not enough images per class: {taken}")
    kept_images = b"".join(images[i * size : (i + 1) * size] for i in keep)
    kept_labels = bytes(labels[i] for i in keep)
    write_idx(os.path.join(output, f"{split}-images-idx3-ubyte.gz"), IMAGE_MAGIC,
              (len(keep), dims[1], dims[2]), kept_images)
    write_idx(os.path.join(output, f"{split}-labels-idx1-ubyte.gz"), LABEL_MAGIC,
              (len(keep),), kept_labels)
    print(f"{split}: kept {len(keep)} of {count}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    source = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    output = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "fashion-mnist-subset")
    os.makedirs(output, exist_ok=True)
    for split, per_class in PER_CLASS.items():
        subset(source, output, split, per_class)


if __name__ == "__main__":
    main()
