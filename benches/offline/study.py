"""Margin rules above gscale's reactive floor, in the bench's real-time model (sim.py).

python3 study.py [rule ...]   (rules: names in RULES; default: the report's set)
"""
import bisect, collections, json, math, sys, time
import sim

TARGETS = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
HPA = json.load(open(f"{sim.OUT}/hpa.json"))
SHORT = {"Twitter_volume_AMZN": "Twitter", "elb_request_count_8c0756": "elb", "nyc_taxi": "nyc"}


def change(rule, now, current, ready, value):
    """The demand served now (the reading times the serving pods) and, when it changed, its ratio to
    the last one (None otherwise); records the gap since the last change in rule.gaps."""
    d = value * max(min(ready, current), 1)
    if rule.last is None:
        rule.last, rule.t_change = d, now
        return d, None
    if abs(d - rule.last) <= 1e-9 * max(d, 1.0):
        return d, None
    r = d / rule.last if rule.last > 0 else 10.0
    rule.gaps.add(now - rule.t_change)
    rule.last, rule.t_change = d, now
    return d, r


class Quantile:
    """Sliding window of the last n samples with an order-statistic query (sorted list)."""
    def __init__(self, n):
        self.n = n
        self.q = collections.deque()
        self.s = []

    def add(self, x):
        self.q.append(x)
        bisect.insort(self.s, x)
        if len(self.q) > self.n:
            y = self.q.popleft()
            del self.s[bisect.bisect_left(self.s, y)]

    def get(self, p):
        if not self.s:
            return None
        return self.s[round((len(self.s) - 1) * p)]


class ChangeMargin:
    """count = max(floor, ceil(base * M / target)), no down window (scale-down at once to that count).
    Samples: at each change of the reading, rise = new / old (rel) or new - old (abs).
    M = quantile_p of the last n samples (rel: max(1, q); abs: base + max(0, q))."""
    def __init__(self, target, p=0.9, n=96, mode="rel", min_samples=12, base="now", k=3, scale=1.0):
        self.target, self.p, self.n, self.mode, self.min = target, p, n, mode, min_samples
        self.qs = Quantile(n)
        self.last = None
        self.base, self.k, self.scale = base, k, scale
        self.levels = collections.deque(maxlen=k)

    def __call__(self, now, current, ready, value, floor, i):
        if value is None:
            return floor, None
        d = value * max(min(ready, current), 1)
        if self.last is None:
            self.last = d
            self.levels.append(d)
        elif abs(d - self.last) > 1e-9 * max(d, 1.0):
            if self.mode == "rel":
                self.qs.add(d / self.last if self.last > 0 else 10.0)
            elif self.mode == "abs":
                self.qs.add(d - self.last)
            self.last = d
            self.levels.append(d)
        if len(self.qs.q) < self.min:
            return floor, floor
        q = self.qs.get(self.p)
        base = d if self.base == "now" else max(self.levels)
        if self.mode == "rel":
            need = base * max(1.0, 1.0 + (q - 1.0) * self.scale)
        else:
            need = base + max(0.0, q) * self.scale
        count = max(floor, sim.ceil_eps(need / self.target))
        return count, count


def no_margin(target):
    return lambda now, c, r, v, floor, i: (floor, floor)


def rules():
    R = {}
    R["reactive+window300"] = lambda u: sim.Gscale(u, 300)
    R["nowindow"] = lambda u: sim.Gscale(u, 0, hook=no_margin(u))
    for p in (0.8, 0.9, 0.95):
        for n in (48, 192):
            R[f"rel p{p} n{n}"] = (lambda p, n: lambda u: sim.Gscale(u, 0, hook=ChangeMargin(u, p, n, "rel")))(p, n)
            R[f"abs p{p} n{n}"] = (lambda p, n: lambda u: sim.Gscale(u, 0, hook=ChangeMargin(u, p, n, "abs")))(p, n)
    return R


def sweep(factory, traces=sim.TRACES, targets=TARGETS):
    res = {}
    for name in traces:
        tr = sim.load(name)
        res[name] = {}
        for u in targets:
            ph, vm, h = sim.run(tr, factory(u * 100), u * 100)
            res[name][f"{u:.2f}"] = (ph, vm, h)
    return res


def judge(res):
    """Per trace: saving at HPA 70% (best point within its violation), and the worst saving over the
    other HPA points in the operating range (viol <= 5% of minutes), 50..85%."""
    out = {}
    for name, pts in res.items():
        row = {}
        for hu, (hph, hvm, hh) in HPA[name].items():
            ok = [(ph, u) for u, (ph, vm, _) in pts.items() if vm <= hvm + 1e-9]
            if not ok:
                row[hu] = None
                continue
            ph, u = min(ok)
            row[hu] = (1 - ph / hph, u)
        out[name] = row
    return out


def show(label, res):
    j = judge(res)
    parts = []
    for name in res:
        row = j[name]
        hvm = {hu: v[1] for hu, v in HPA[name].items()}
        minutes = HPA[name]["0.70"][2] * 60
        g = row.get("0.70")
        goal = f"{-g[0]*100:+.1f}%@{float(g[1])*100:.0f}" if g else "never"
        others = [(hu, row.get(hu)) for hu in row if hu != "0.70" and hvm[hu] <= 0.05 * minutes]
        worst = min((v[0] for _, v in others if v), default=None)
        nevers = [hu for hu, v in others if v is None]
        parts.append(f"{SHORT[name]} {goal} (others worst {('%+.1f%%' % (-worst*100)) if worst is not None else '-'}{' never@'+','.join(nevers) if nevers else ''})")
    print(f"{label:28s} | " + " | ".join(parts), flush=True)


class PhaseMargin:
    """Margin only where the reading is expected to change within the horizon.

    Changes of the reading are detected tick by tick (total demand = value x serving pods).
    kind="bucket": samples keyed by time since the last change (in ticks, capped): for every tick,
      once its horizon has passed, r = max reading over the next `h` ticks / reading at the tick;
      M = quantile_p of the last n samples of the same key.
    kind="period": P = median interval between the last n changes; the margin applies when the next
      change is due within the horizon (time since change >= P - h ticks); M = quantile_p of the
      ratios new/old at the last n changes.
    count = max(floor, ceil(D x max(1, M) / target)); no down window.
    """
    def __init__(self, target, p=0.9, n=64, h=2, kind="period", min_samples=8, cap=240):
        self.target, self.p, self.n, self.h, self.kind, self.min = target, p, n, h, kind, min_samples
        self.cap = cap
        self.last = None
        self.t_change = None
        self.rises = Quantile(n)
        self.gaps = Quantile(n)
        self.buckets = {}
        self.pending = collections.deque()  # (tick time, key, D, max after)

    def __call__(self, now, current, ready, value, floor, i):
        if value is None:
            return floor, None
        d, r = change(self, now, current, ready, value)
        if r is not None:
            self.rises.add(r)
        s = now - self.t_change
        key = min(s // sim.TICK_MS, self.cap)
        M = 1.0
        if self.kind == "bucket":
            for e in self.pending:
                if e[3] < d:
                    e[3] = d
            while self.pending and now - self.pending[0][0] >= self.h * sim.TICK_MS:
                t0, k0, d0, mx = self.pending.popleft()
                self.buckets.setdefault(k0, Quantile(self.n)).add(mx / d0 if d0 > 0 else 10.0)
            self.pending.append([now, key, d, 0.0])
            qb = self.buckets.get(key)
            if qb is not None and len(qb.q) >= self.min:
                M = qb.get(self.p)
        else:
            if len(self.gaps.q) >= self.min:
                P = self.gaps.get(0.5)
                if s + self.h * sim.TICK_MS >= P:
                    M = self.rises.get(self.p)
        count = max(floor, sim.ceil_eps(d * max(1.0, M) / self.target))
        return count, count


def add_phase_rules(R):
    for p in (0.8, 0.9, 0.95):
        for kind in ("period", "bucket"):
            R[f"{kind} p{p}"] = (lambda p, kind: lambda u: sim.Gscale(u, 0, hook=PhaseMargin(u, p, 64, 2, kind)))(p, kind)
    return R


if __name__ == "__main__":
    R = add_phase_rules(rules())
    names = sys.argv[1:] or list(R)
    for n in names:
        t = time.time()
        res = sweep(R[n])
        json.dump(res, open(f"{sim.OUT}/res_{n.replace(' ', '_')}.json", "w"))
        show(n, res)
        print(f"   ({time.time()-t:.0f}s)", file=sys.stderr)

