import time, sim
for name in sim.TRACES:
    tr = sim.load(name)
    t=time.time(); ph,vm,h = sim.run(tr, sim.Hpa(70.0), 70.0); t1=time.time()-t
    t=time.time(); cph,cvm,_ = sim.run(tr, sim.Clairvoyant(tr), 70.0); t2=time.time()-t
    print(f"{name}: HPA70 {ph:.1f} pod-h {vm:.1f} min ({t1:.1f}s); clair {cph:.1f} {cvm:.1f} ({t2:.1f}s) saving {1-cph/ph:.3f}")
