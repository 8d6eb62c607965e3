import json, sim
TARGETS=[0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85,0.9,0.95]
out={}
for name in sim.TRACES:
    tr=sim.load(name)
    out[name]={f"{u:.2f}":sim.run(tr,sim.Hpa(u*100),u*100)[:3] for u in TARGETS}
    print(name,out[name])
json.dump(out,open(f"{sim.OUT}/hpa.json","w"))
