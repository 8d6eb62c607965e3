#!/usr/bin/env python3
"""Round the load traces to coarse levels, to see how the forecast does on a metric whose value often
repeats from one step to the next (a count in a few buckets, a gauge with little resolution): its
changes come at whole multiples of the step, not at every step.

Each value is rounded to the nearest multiple of a quarter of the trace's mean; timestamps are kept.
Standard library only. Prints, per trace, the share of steps equal to the one before.

    python3 benches/quantized_traces.py ../shared/traces /tmp/quant
    cargo bench --bench quality -- --traces /tmp/quant --only "forecast On,clairvoyant"
"""

import csv
import os
import sys

LEVEL = 0.25


def main(src, dst):
    os.makedirs(dst, exist_ok=True)
    for name in sorted(n for n in os.listdir(src) if n.endswith(".csv")):
        with open(os.path.join(src, name)) as f:
            rows = list(csv.reader(f))
        header, rows = rows[0], rows[1:]
        mean = sum(float(v) for _, v in rows) / len(rows)
        step = LEVEL * mean
        values = [round(float(v) / step) * step for _, v in rows]
        out = os.path.join(dst, name.replace(".csv", "_quant.csv"))
        with open(out, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            for (t, _), v in zip(rows, values):
                w.writerow([t, f"{v:.3f}"])
        same = sum(1 for a, b in zip(values, values[1:]) if a == b) / len(values)
        print(f"{name}: {same:.0%} of steps repeat the one before")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: quantized_traces.py SRC_DIR DST_DIR")
    main(sys.argv[1], sys.argv[2])
