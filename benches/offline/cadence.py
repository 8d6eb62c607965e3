"""The cadence rule as built in gscale (src/decision/forecast/cadence.rs): a metric that changes only
at a regular period gives the instant of its next change; a margin for that change is held from a
lead time (plus a sync) before it is due until it arrives, and between changes the count is the
reactive floor with no scale-down window.

python3 benches/offline/cadence.py [variant ...]
"""
import bisect, json, sys, time
import sim, study
from study import Quantile

N = 64          # changes remembered
MIN = 8         # changes before the rule acts
LIM = 1.25      # a rise beyond this is one the target's headroom would not absorb
K = 0.5         # risk: the quantile is 1 - K x the share of such rises (at least PFLOOR)
PFLOOR = 0.5


class Cadence:
    def __init__(self, target, lead_s=60, regular=0.8, min_period_x=2.0, cond="sign", k=K, lim=LIM):
        self.target, self.lead, self.regular, self.mpx = target, lead_s * 1000, regular, min_period_x
        self.cond, self.k, self.lim = cond, k, lim
        self.last = None
        self.t_change = None
        self.last_key = 1
        self.q = {0: Quantile(N), 1: Quantile(N)}
        self.all = Quantile(N)
        self.gaps = Quantile(N)
        self.acted = 0
        self.stood = 0

    def period(self):
        if len(self.gaps.q) < MIN:
            return None
        p = self.gaps.get(0.5)
        if p < self.mpx * (self.lead + sim.TICK_MS):
            return None
        tol = sim.TICK_MS
        ok = sum(1 for g in self.gaps.q if abs(g - round(g / p) * p) <= tol and g >= p - tol)
        if ok < self.regular * len(self.gaps.q):
            return None
        return p

    def __call__(self, now, current, ready, value, floor, i):
        if value is None:
            return floor, None
        d, r = study.change(self, now, current, ready, value)
        if r is not None:
            key = self.last_key if self.cond == "sign" else 1
            self.q[key].add(r)
            self.all.add(r)
            self.last_key = 1 if r > 1 else 0
        p = self.period()
        if p is None:
            self.stood += 1
            return floor, None
        self.acted += 1
        s = now - self.t_change
        M = 1.0
        if s + self.lead + sim.TICK_MS >= p:
            key = self.last_key if self.cond == "sign" else 1
            qk = self.q[key] if len(self.q[key].q) >= MIN else self.all
            miss = len(self.all.s) - bisect.bisect_right(self.all.s, self.lim)
            pq = max(PFLOOR, 1.0 - self.k * miss / len(self.all.s))
            M = qk.get(pq)
        count = max(floor, sim.ceil_eps(d * max(1.0, M) / self.target))
        return count, count


V = {
    "lead60": lambda u: sim.Gscale(u, 300, hook=Cadence(u, 60)),
    "lead30": lambda u: sim.Gscale(u, 300, hook=Cadence(u, 30)),
    "lead15": lambda u: sim.Gscale(u, 300, hook=Cadence(u, 15)),
    "lead60 nosign": lambda u: sim.Gscale(u, 300, hook=Cadence(u, 60, cond="none")),
}
if __name__ == "__main__":
    for n in sys.argv[1:]:
        t = time.time()
        res = study.sweep(V[n])
        json.dump(res, open(f"{sim.OUT}/res_cadence_{n.replace(' ', '_')}.json", "w"))
        study.show("cadence " + n, res)
        print(f"   ({time.time()-t:.0f}s)", file=sys.stderr)
