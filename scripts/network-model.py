#!/usr/bin/env python3
"""Writes a copy of a scenario on another network model, for side-by-side
runs (bench/p2p.sh, reports/figures/make.sh qa):

    scripts/network-model.py SCENARIO.toml OUT.toml p2p|direct [DURATION]

The copy names `model = "<model>"` under [network]; on the direct model it
leaves out [[full_nodes]] (that model has none); paths relative to the
scenario's folder become absolute, so the copy runs from anywhere; with
DURATION, `duration` is replaced."""

import os
import re
import sys

src, out, model = sys.argv[1:4]
duration = sys.argv[4] if len(sys.argv) > 4 else None
s = open(src).read()
s = re.sub(r'(?m)^model = "(p2p|direct)"\n', "", s)
s = s.replace("[network]\n", f'[network]\nmodel = "{model}"\n', 1)
if model == "direct":
    s = re.sub(r"\n\[\[full_nodes\]\]\n(?:[a-z_]+ = .*\n)+", "\n", s)
here = os.path.dirname(os.path.abspath(src))
s = re.sub(r'"(\.\./[^"]+)"', lambda m: '"' + os.path.normpath(os.path.join(here, m.group(1))) + '"', s)
if duration:
    s = re.sub(r'(?m)^duration = ".*"', f'duration = "{duration}"', s)
open(out, "w").write(s)
