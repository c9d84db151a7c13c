"""Placement preview speed: ``ironplane.placement.preview`` on realistic OCI inventories.

Builds inventories with ``tests.placement.test_preview.make_inventory`` (islands of 8 network
blocks of 2-4 local blocks of 16-32 hosts, filled in order: 2,000 nodes are 4 islands; 8 GPUs a
node, about a third of the nodes busy) and times ``preview`` for a few pod sets at each size,
both modes: the median and the slowest of ``--repeats`` calls, in milliseconds, as a Markdown
table.

    .venv/bin/python bench/placement.py
    .venv/bin/python bench/placement.py --sizes 100,500,2000,10000 --repeats 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ironplane.placement import WITHIN, PodSet, preview
from tests.placement.test_preview import make_inventory

H100 = {"node.kubernetes.io/instance-type": "BM.GPU.H100.8"}
SHORT = {label: key for key, label in WITHIN.items()}

# (pods of 8 GPUs, within, mode): 16 fit in a local block; 64 do not (preferred climbs); the host
# level has one domain a node (the most summaries)
CASES = [
    (16, "local_block", "required"),
    (16, "local_block", "preferred"),
    (64, "local_block", "required"),
    (64, "local_block", "preferred"),
    (4, "host", "preferred"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500,2000", help="node counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print("| nodes | pods x GPUs | within | mode | result | median ms | max ms |")
    print("|---:|---|---|---|---|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        nodes = make_inventory(size, args.seed)
        for pods, within, mode in CASES:
            podset = PodSet(pods, 8, within, mode, H100)
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                plan = preview(nodes, podset)
                times.append((time.perf_counter() - start) * 1000)
            if not plan.fits:
                result = "does not fit"
            else:
                result = f"fits in {SHORT[plan.level]}" if plan.level else "fits across cluster"
            print(
                f"| {size} | {pods} x 8 | {within} | {mode} | {result} "
                f"| {statistics.median(times):.2f} | {max(times):.2f} |"
            )


if __name__ == "__main__":
    main()
