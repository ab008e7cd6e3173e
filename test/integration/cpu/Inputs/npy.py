#!/usr/bin/env python3
"""Tiny .npy writer/reader for the integration tests (no numpy needed).

  npy.py write OUT.npy DTYPE SHAPE V1 V2 ...   e.g. write x.npy f32 2x3 1 2 3 4 5 6
  npy.py print IN.npy                           prints dtype, shape and values
"""
import struct
import sys

CODES = {"f32": ("<f4", "f"), "i8": ("|i1", "b"), "i32": ("<i4", "i")}


def write(path, dtype, shape, values):
    descr, fmt = CODES[dtype]
    dims = [int(d) for d in shape.split("x")]
    count = 1
    for d in dims:
        count *= d
    if len(values) != count:
        sys.exit(f"npy.py: {count} values expected, {len(values)} given")
    shape_text = ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "")
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, shape_text)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    cast = float if dtype == "f32" else int
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%d%s" % (count, fmt), *[cast(v) for v in values]))


def show(path):
    data = open(path, "rb").read()
    length = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + length].decode()
    descr = header.split("'descr': '")[1].split("'")[0]
    shape = header.split("'shape': (")[1].split(")")[0]
    fmt = {"<f4": "f", "|i1": "b", "<i4": "i"}[descr]
    body = data[10 + length:]
    count = len(body) // struct.calcsize(fmt)
    values = struct.unpack("<%d%s" % (count, fmt), body)
    print(descr, "(" + shape + ")", " ".join("%.4f" % v for v in values))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        show(sys.argv[2])
