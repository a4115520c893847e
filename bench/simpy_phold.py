"""PHOLD on SimPy 4.1.2 in its fastest idiom (callbacks on env.timeout, no
processes), with the same parameters as sim-core/examples/phold.rs.

Usage: simpy_phold.py [N E remote lookahead T seed]
"""
import random
import sys
import time

import simpy

args = [float(x) for x in sys.argv[1:]] + [1000, 10, 0.9, 0.1, 200, 1][len(sys.argv) - 1:]
N, E, REMOTE, LOOKAHEAD, T, SEED = int(args[0]), int(args[1]), args[2], args[3], args[4], int(args[5])

setup = time.perf_counter()
env = simpy.Environment()
rng = random.Random(SEED)
count = 0


def handle(event):
    global count
    count += 1
    lp = event.value
    target = rng.randrange(N) if rng.random() < REMOTE else lp
    ev = env.timeout(LOOKAHEAD + rng.expovariate(1.0), target)
    ev.callbacks.append(handle)


for lp in range(N):
    for _ in range(E):
        ev = env.timeout(LOOKAHEAD + rng.expovariate(1.0), lp)
        ev.callbacks.append(handle)
setup_s = time.perf_counter() - setup
start = time.perf_counter()
env.run(until=T)
loop_s = time.perf_counter() - start
expected = N * E * T / (LOOKAHEAD + 1)
assert abs(count - expected) / expected < 0.01, (count, expected)
print(f"simpy events={count} setup_s={setup_s:.3f} loop_s={loop_s:.3f} events_per_s={count / loop_s:.0f}")
