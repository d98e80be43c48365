"""Print issue 9's serving goals as ratios from one compare.sh table (``benchmarks/serve.sh`` runs it).

usage: goals.py COMPARE_OUTPUT
The table's rows are: target req/s ratio p50_ms p99_ms non2xx bytes. A goal whose targets are missing
from the run is said to be not measured, never guessed.
"""

import os
import sys

GOALS = [
    # name, measured target, reference target, minimum req/s ratio, maximum p99 ratio (or None)
    ("uncached site vs Wagtail peer", "site", "wagtail", 10.0, None),
    ("cached through Django vs bare gunicorn", "site-cached", "floor", 0.5, None),
    ("edge cache vs nginx static", "edge", "nginx", 0.5, 2.0),
]


def read_table(path):
    rows = {}
    for line in open(path, encoding="utf-8"):  # noqa: SIM115 - a short read
        fields = line.split()
        if len(fields) == 7 and fields[0] != "target":
            name, rps, _, p50, p99, bad, size = fields
            rows[name] = {
                "rps": float(rps),
                "p50": float(p50),
                "p99": float(p99),
                "bad": bad,
                "bytes": int(size),
            }
    return rows


def verdict(rows, measured, reference, min_ratio, max_p99):
    if measured not in rows or reference not in rows:
        return f"not measured (needs {measured} and {reference} in the run)"
    got, ref = rows[measured], rows[reference]
    ratio = got["rps"] / ref["rps"]
    text = f"{ratio:.3f}x req/s ({got['rps']:.0f} vs {ref['rps']:.0f}; goal >= {min_ratio})"
    met = ratio >= min_ratio
    if max_p99 is not None:
        p99 = got["p99"] / ref["p99"]
        text += f", p99 {p99:.2f}x ({got['p99']:.2f} vs {ref['p99']:.2f} ms; goal <= {max_p99})"
        met = met and p99 <= max_p99
    if got["bad"] != "0":
        text += f", errors {got['bad']}"
        met = False
    return f"{'MET' if met else 'NOT MET'}: {text}"


def page_work(rows, cores: int) -> str | None:
    """What the uncached page itself costs, beside the site's stack answering the same bytes (``django``):
    core-milliseconds a request (cores / req/s, every core busy under wrk), and what the uncached goal
    leaves for it. None unless the run has the site, its stack alone and the peer."""
    if not {"site", "django", "wagtail"} <= rows.keys():
        return None
    goal_ratio = GOALS[0][3]
    stack, site = cores * 1000 / rows["django"]["rps"], cores * 1000 / rows["site"]["rps"]
    budget = cores * 1000 / (goal_ratio * rows["wagtail"]["rps"]) - stack
    text = (
        f"the site's stack alone (django) {rows['django']['rps']:.0f} req/s, "
        f"{rows['django']['rps'] / rows['wagtail']['rps']:.1f}x the peer: {stack:.2f} ms of the {cores} "
        f"cores a request; the page's own work (queries, PostgreSQL, template) {site - stack:.2f} ms more"
    )
    if budget <= 0:
        return f"{text}; {goal_ratio:g}x the peer is beyond the stack alone"
    return f"{text}; {goal_ratio:g}x the peer leaves it {budget:.2f} ms ({(site - stack) / budget:.1f}x less)"


def main(path):
    rows = read_table(path)
    print("\ngoals (ratios from this one run):")
    for name, measured, reference, min_ratio, max_p99 in GOALS:
        print(f"  {name:40s} {verdict(rows, measured, reference, min_ratio, max_p99)}")
    if work := page_work(rows, os.cpu_count() or 1):
        print(f"\nwhere the uncached page's time goes: {work}")


if __name__ == "__main__":
    main(sys.argv[1])
