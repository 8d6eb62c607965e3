import sys, time, json, study, sim
from rules2 import Phase2
R = {
 "sign fixed p0.8": lambda u: sim.Gscale(u, 0, hook=Phase2(u, p=0.8)),
 "sign fixed p0.9": lambda u: sim.Gscale(u, 0, hook=Phase2(u, p=0.9)),
 "sign risk k0.5": lambda u: sim.Gscale(u, 0, hook=Phase2(u, pmode="risk", k=0.5)),
 "sign risk k0.33": lambda u: sim.Gscale(u, 0, hook=Phase2(u, pmode="risk", k=0.33)),
 "nosign risk k0.5": lambda u: sim.Gscale(u, 0, hook=Phase2(u, pmode="risk", k=0.5, cond="none")),
 "sign fixed p0.85": lambda u: sim.Gscale(u, 0, hook=Phase2(u, p=0.85)),
 "sign risk k0.25": lambda u: sim.Gscale(u, 0, hook=Phase2(u, pmode="risk", k=0.25)),
 "k0.5 n32": lambda u: sim.Gscale(u, 0, hook=Phase2(u, pmode="risk", k=0.5, n=32)),
 "k0.5 n128": lambda u: sim.Gscale(u, 0, hook=Phase2(u, pmode="risk", k=0.5, n=128)),
 "k0.5 h3": lambda u: sim.Gscale(u, 0, hook=Phase2(u, pmode="risk", k=0.5, h=3)),
 "k0.5 lim1.25": lambda u: sim.Gscale(u, 0, hook=Phase2(u, pmode="risk", k=0.5, lim=1.25)),
 "k0.5 lim1.43": lambda u: sim.Gscale(u, 0, hook=Phase2(u, pmode="risk", k=0.5, lim=1/0.7)),
}
for n in sys.argv[1:]:
    t = time.time(); res = study.sweep(R[n])
    json.dump(res, open(f"{sim.OUT}/res_{n.replace(' ', '_')}.json", "w"))
    study.show(n, res); print(f"   ({time.time()-t:.0f}s)", file=sys.stderr)
