"""Phase-gated change-ratio margin, conditioned on the direction of the last change."""
import collections, bisect
import sim
from study import Quantile, change


class Phase2:
    """Record every change of the reading (total demand): the interval since the previous change and
    the ratio new/old, keyed by the direction of the previous change (up / down).
    P = median of the last n intervals. When the next change is due within h ticks
    (time since the last change + h x 15 s >= P), count = max(floor, ceil(D x M / target)), where
    M = quantile_p of the last n ratios recorded under the same key as the last change;
    elsewhere count = floor. No scale-down window (scale-down at once to that count).
    p: fixed, or pmode="risk": p = 1 - k x (share of all last-n ratios above 1/target)."""

    def __init__(self, target, p=0.9, n=64, h=2, cond="sign", pmode="fixed", k=0.5, min_samples=8,
                 scale_at=None, pfloor=0.5, lim=None):
        self.lim = lim
        self.target, self.p, self.n, self.h, self.cond = target, p, n, h, cond
        self.pmode, self.k, self.min = pmode, k, min_samples
        self.scale_at = scale_at  # None: size D x M at the target; else at this utilisation
        self.pfloor = pfloor
        self.last = None
        self.t_change = None
        self.last_key = 1
        self.q = {0: Quantile(n), 1: Quantile(n)}
        self.all = Quantile(n)
        self.gaps = Quantile(n)

    def __call__(self, now, current, ready, value, floor, i):
        if value is None:
            return floor, None
        d, r = change(self, now, current, ready, value)
        if r is not None:
            key = self.last_key if self.cond == "sign" else 1
            self.q[key].add(r)
            self.all.add(r)
            self.last_key = 1 if r > 1 else 0
        if len(self.gaps.q) < self.min:
            return floor, floor
        s = now - self.t_change
        M = 1.0
        if s + self.h * sim.TICK_MS >= self.gaps.get(0.5):
            key = self.last_key if self.cond == "sign" else 1
            qk = self.q[key] if len(self.q[key].q) >= self.min else self.all
            if self.pmode == "fixed":
                p = self.p
            else:
                lim = self.lim or 100.0 / self.target  # the target's headroom as a ratio
                miss = len(self.all.s) - bisect.bisect_right(self.all.s, lim)
                p = max(self.pfloor, 1.0 - self.k * miss / len(self.all.s))
            M = qk.get(p)
        u = self.target if self.scale_at is None else self.scale_at * 100
        count = max(floor, sim.ceil_eps(d * max(1.0, M) / u))
        return count, count
