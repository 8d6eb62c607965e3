import sim
B = {  # BENCHMARKS real time 70%: no-down-cooldown, 60 s window, forecast On
 "Twitter_volume_AMZN": [(42187.0,1048.7),(38853.9,1048.7),(39753.6,971.8)],
 "elb_request_count_8c0756": [(13573.8,1637.9),(10373.4,1637.9),(10675.1,1603.6)],
 "nyc_taxi": [(149592.0,216.7),(148905.3,216.7),(153700.5,15.4)]}
for name in sim.TRACES:
    tr = sim.load(name)
    a = sim.run(tr, sim.Gscale(70.0, 300, 0, 0), 70.0)
    b = sim.run(tr, sim.Gscale(70.0, 60, 30, 0), 70.0)
    c = sim.run(tr, sim.Gscale(70.0, 0, 0, 0), 70.0)
    print(name, "nocd300 %.1f %.1f" % a[:2], "bench", B[name][0], "| w60 %.1f %.1f" % b[:2], "bench", B[name][1], "| nowindow %.1f %.1f" % c[:2], "fcOn bench", B[name][2])
