#!/usr/bin/env python3
"""Turn the load traces into 15-second series with noise, to see how the forecast does on a metric read
every sync that moves within its minutes (a live rate, not a trace step held for 5 or 30 minutes).

Each trace is interpolated linearly between its points to one point every 15 s and multiplied by
independent log-normal noise (sigma 3%, fixed seed). Standard library only.

    python3 benches/noisy_traces.py ../shared/traces /tmp/noisy
    cargo bench --bench quality -- --traces /tmp/noisy --only "forecast On"
"""

import csv
import math
import os
import random
import sys
from datetime import datetime, timezone

STEP = 15.0
SIGMA = 0.03


def main(src, dst):
    os.makedirs(dst, exist_ok=True)
    rng = random.Random(7)
    for name in sorted(n for n in os.listdir(src) if n.endswith(".csv")):
        with open(os.path.join(src, name)) as f:
            rows = list(csv.reader(f))[1:]
        points = [
            (datetime.strptime(t, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp(), float(v))
            for t, v in rows
        ]
        out = os.path.join(dst, name.replace(".csv", "_noisy.csv"))
        with open(out, "w") as o:
            o.write("timestamp,value\n")
            i, t = 0, points[0][0]
            while t < points[-1][0]:
                while points[i + 1][0] <= t:
                    i += 1
                (t0, v0), (t1, v1) = points[i], points[i + 1]
                v = (v0 + (v1 - v0) * (t - t0) / (t1 - t0)) * math.exp(rng.gauss(0.0, SIGMA))
                stamp = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
                o.write(f"{stamp},{v:.3f}\n")
                t += STEP
        print(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: noisy_traces.py TRACES_DIR OUT_DIR")
    main(sys.argv[1], sys.argv[2])
