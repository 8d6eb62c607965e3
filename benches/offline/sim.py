"""Python port of gscale's quality-bench model (src/sim/{mod,model,hpa,clairvoyant}.rs), real-time mode.

Capacity 100/pod, demand scaled so the mean needs 20 pods, pod start 30 s, 15 s ticks,
min 1 / max 1000 replicas. Event-driven exactly like sim::run.
"""
import calendar
import os
import math
import time

CAPACITY = 100.0
MEAN_PODS = 20.0
POD_START_MS = 30_000
TICK_MS = 15_000
EMPTY = 1e-9
TRACES = ["Twitter_volume_AMZN", "elb_request_count_8c0756", "nyc_taxi"]
TRACE_DIR = os.environ.get("TRACES", "../shared/traces")
OUT = os.environ.get("OUT", "target/offline")
os.makedirs(OUT, exist_ok=True)


def load(name):
    pts = []
    with open(f"{TRACE_DIR}/{name}.csv") as f:
        next(f)
        for line in f:
            a, b = line.strip().split(",")
            pts.append((calendar.timegm(time.strptime(a, "%Y-%m-%d %H:%M:%S")) * 1000, float(b)))
    steps = sorted(b[0] - a[0] for a, b in zip(pts, pts[1:]))
    step_ms = steps[len(steps) // 2]
    mean = sum(p[1] for p in pts) / len(pts)
    scale = MEAN_PODS * CAPACITY / mean
    t0 = pts[0][0]
    times = [p[0] - t0 for p in pts]
    demands = [p[1] * scale for p in pts]
    return times, demands, step_ms


def ceil_eps(x):
    """ceil forgiving float noise (metric::ceil_count / hpa::ceil)."""
    if x != x or x <= 0.0:
        return 0
    return math.ceil(x - 1e-9)


class Model:
    def __init__(self, replicas):
        self.cohorts = [(-(1 << 62), replicas)] if replicas > 0 else []
        self.backlog = 0.0
        self.pod_ms = 0.0
        self.viol_ms = 0.0

    def replicas(self):
        return sum(c[1] for c in self.cohorts)

    def ready(self, t):
        return sum(c[1] for c in self.cohorts if c[0] <= t)

    def next_ready_after(self, t):
        m = None
        for c in self.cohorts:
            if c[0] > t and (m is None or c[0] < m):
                m = c[0]
        return m

    def compact(self, t):
        # merge the ready prefix (removal order is unchanged: ready cohorts are the oldest)
        cs = self.cohorts
        if len(cs) > 1 and cs[1][0] <= t:
            n = 0
            k = 0
            while k < len(cs) and cs[k][0] <= t:
                n += cs[k][1]
                k += 1
            self.cohorts = [(-(1 << 62), n)] + cs[k:]

    def scale_to(self, replicas, t):
        excess = self.replicas() - max(replicas, 0)
        if excess < 0:
            self.cohorts.append((t + POD_START_MS, -excess))
            return
        while excess > 0 and self.cohorts:
            c, n = self.cohorts[-1]
            take = min(n, excess)
            n -= take
            excess -= take
            if n == 0:
                self.cohorts.pop()
            else:
                self.cohorts[-1] = (c, n)

    def advance(self, t0, t1, demand):
        if t1 <= t0:
            return
        dt_ms = t1 - t0
        dt = dt_ms / 1000.0
        cap = self.ready(t0) * CAPACITY
        self.pod_ms += self.replicas() * dt_ms
        if demand > cap:
            self.backlog += (demand - cap) * dt
            self.viol_ms += dt_ms
        elif self.backlog > EMPTY:
            drain = cap - demand
            clear_ms = self.backlog / drain * 1000.0 if drain > 0 else math.inf
            self.viol_ms += min(clear_ms, dt_ms)
            self.backlog = max(self.backlog - drain * dt, 0.0)
            if self.backlog <= EMPTY:
                self.backlog = 0.0


def run(trace, scaler, target_value):
    """sim::run. scaler.decide(t, current, ready, value_or_None, demand_index) -> replicas."""
    times, demands, step_ms = trace
    end = times[-1] + step_ms
    need = math.ceil(demands[0] / target_value)
    model = Model(min(max(need, 1), 1000))
    t = 0
    i = 0
    next_tick = 0
    n = len(times)
    decisions = 0
    while t < end:
        while i + 1 < n and times[i + 1] <= t:
            i += 1
        demand = demands[i]
        if t >= next_tick:
            model.compact(t)
            cur = model.replicas()
            rdy = model.ready(t)
            if rdy > 0:
                value = demand / rdy
            elif cur == 0:
                value = demand
            else:
                value = None
            desired = scaler.decide(t, cur, rdy, value, i)
            decisions += 1
            if desired < 0:
                desired = 0
            if desired != cur:
                model.scale_to(desired, t)
            next_tick += TICK_MS
        nxt = times[i + 1] if i + 1 < n else end
        t1 = min(next_tick, nxt, end)
        r = model.next_ready_after(t)
        if r is not None and r < t1:
            t1 = r
        model.advance(t, t1, demand)
        t = t1
    return model.pod_ms / 3.6e6, model.viol_ms / 60000.0, end / 3.6e6


class Hpa:
    """src/sim/hpa.rs with default behavior, one Value metric."""

    def __init__(self, target):
        self.target = target
        self.recs = []
        self.up_events = []
        self.down_events = []

    def decide(self, now, current, ready, value, _i):
        if current == 0:
            return 0
        if current > 1000:
            desired = 1000
        elif current < 1:
            desired = 1
        else:
            if value is None or not (value >= 0):
                return current
            ratio = value / self.target
            if abs(1.0 - ratio) <= 0.1:
                p = current
            else:
                p = ceil_eps(ratio * ready)
            if not self.recs:
                self.recs.append((now, current))
            down_cut = now - 300_000
            down = p
            for (tt, r) in self.recs:
                if tt > down_cut and r > down:
                    down = r
            self.recs = [x for x in self.recs if x[0] >= down_cut]
            self.recs.append((now, p))
            out = min(max(current, p), down)
            if out > current:
                cut = now - 15_000
                start = current - sum(e[1] for e in self.up_events if e[0] > cut) + sum(
                    e[1] for e in self.down_events if e[0] > cut)
                lim = max(ceil_eps(start * 2.0), start + 4)
                lim = max(lim, current)
                out = min(out, min(lim, 1000))
            elif out < current:
                # 100% per 15 s: the limit is 0
                out = max(out, 1)
            desired = out
        if desired > current:
            self.up_events.append((now, desired - current))
        elif desired < current:
            self.down_events.append((now, current - desired))
        self.up_events = [e for e in self.up_events if now - e[0] <= 15_000]
        self.down_events = [e for e in self.down_events if now - e[0] <= 15_000]
        return desired


class Clairvoyant:
    def __init__(self, trace):
        self.times, self.demands, _ = trace
        self.cursor = 0

    def decide(self, now, current, ready, value, _i):
        frm, to = now, now + POD_START_MS + TICK_MS
        ts, ds = self.times, self.demands
        while self.cursor + 1 < len(ts) and ts[self.cursor + 1] <= frm:
            self.cursor += 1
        peak = ds[self.cursor]
        k = self.cursor
        while k < len(ts) and ts[k] <= to:
            peak = max(peak, ds[k])
            k += 1
        pods = math.ceil(peak / CAPACITY - 1e-9)
        return min(max(pods, 1), 1000)


def gscale_metric(current, ready, value, target, tol=0.1):
    """gscale stage 1 for one Value metric (metric::evaluate + per_pod_count); None: failed read."""
    if value is None:
        return None
    ratio = value / target
    allp = max(current, 1) * ratio
    if ready < current:
        serving = max(ready, 0) * ratio
        if serving > current:
            raw = serving
        elif allp < current:
            raw = allp
        else:
            raw = float(current)
    else:
        raw = allp
    if current > 0 and abs(ratio - 1.0) <= tol + 1e-9:
        return current
    return ceil_eps(raw)


class Gscale:
    """gscale's pipeline with proportional policy: metric stage, forecast hook, stabilization (down
    window), cooldowns, bounds. `hook(self, now, current, ready, value, floor)` -> (count, hold or None)."""

    def __init__(self, target, window_s=300, up_cooldown_s=0, down_cooldown_s=0, hook=None):
        self.target = target
        self.window = window_s * 1000
        self.upcd = up_cooldown_s * 1000
        self.downcd = down_cooldown_s * 1000
        self.recs = []
        self.last_up = None
        self.last_down = None
        self.hook = hook

    def decide(self, now, current, ready, value, i):
        floor = gscale_metric(current, ready, value, self.target)
        if floor is None:
            floor = current
        count, hold = floor, None
        if self.hook is not None:
            count, hold = self.hook(now, current, ready, value, floor, i)
        # stabilization (down window only; up window 0)
        down = count
        w = self.window
        for (tt, r) in self.recs:
            if now - tt < w and r > down:
                down = r
        self.recs = [x for x in self.recs if now - x[0] < w and x[1] != count]
        if w > 0:
            self.recs.append((now, count))
        if hold is not None:
            hold = max(hold, count)
        if hold is not None and count < current and hold < min(down, current):
            out = hold
            early = True
        else:
            out = min(max(current, count), down)
            early = hold is not None
        # cooldown
        if out > current:
            if self.last_up is not None and self.upcd - (now - self.last_up) > 0:
                out = current
        elif out < current:
            since = max([x for x in (self.last_up, self.last_down) if x is not None], default=None)
            if since is not None and self.downcd - (now - since) > 0 and not early:
                out = current
        out = min(max(out, 1), 1000)
        if out > current:
            self.last_up = now
        elif out < current:
            self.last_down = now
        return out
