#!/usr/bin/python3
"""Scores the digits model's logits against the labels and the float model.

  evaluate.py header
  evaluate.py row NAME LOGITS.npy LATENCY_MS --labels L.npy --reference F.npy
  evaluate.py check LOGITS.npy --labels L.npy --reference F.npy
                    [--max-accuracy-drop POINTS] [--min-agreement PERCENT]

row prints one line of the example's table: top-1 accuracy, agreement of
the top-1 class with the float model, SQNR of the logits against the float
logits, latency. check exits 1 (saying why) when the model misses the
targets: accuracy within POINTS of float (default 1.0), agreement >=
PERCENT (default 98.0).
"""
import argparse
import sys

import numpy as np

FORMAT = "%-40s %9s %10s %9s %12s"


def scores(logits, labels, reference):
    y = np.load(logits).reshape(len(labels), -1)
    ref = np.load(reference).reshape(len(labels), -1)
    accuracy = 100.0 * float((y.argmax(axis=1) == labels).mean())
    agreement = 100.0 * float((y.argmax(axis=1) == ref.argmax(axis=1)).mean())
    noise = float(((y - ref) ** 2).sum())
    sqnr = float("inf") if noise == 0 else 10 * np.log10(float((ref ** 2).sum()) / noise)
    ref_accuracy = 100.0 * float((ref.argmax(axis=1) == labels).mean())
    return accuracy, agreement, sqnr, ref_accuracy


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["header", "row", "check"])
    p.add_argument("args", nargs="*")
    p.add_argument("--labels")
    p.add_argument("--reference")
    p.add_argument("--max-accuracy-drop", type=float, default=1.0)
    p.add_argument("--min-agreement", type=float, default=98.0)
    a = p.parse_args()
    if a.mode == "header":
        print(FORMAT % ("model", "top-1 %", "agree %", "SQNR dB", "latency ms"))
        return 0
    labels = np.load(a.labels).astype(np.int64)
    accuracy, agreement, sqnr, ref_accuracy = scores(a.args[0] if a.mode == "check" else a.args[1],
                                                     labels, a.reference)
    if a.mode == "row":
        name, _, latency = a.args
        sqnr_text = "exact" if sqnr == float("inf") else "%.1f" % sqnr
        print(FORMAT % (name, "%.2f" % accuracy, "%.2f" % agreement, sqnr_text, latency))
        return 0
    print("top-1 %.2f%% (float %.2f%%), agreement %.2f%%, SQNR %.1f dB"
          % (accuracy, ref_accuracy, agreement, sqnr))
    if accuracy < ref_accuracy - a.max_accuracy_drop:
        print("FAIL: top-1 dropped by more than %.2f points" % a.max_accuracy_drop)
        return 1
    if agreement < a.min_agreement:
        print("FAIL: agreement below %.2f%%" % a.min_agreement)
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
