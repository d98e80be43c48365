"""Print issue 9's serving goals as ratios from one compare.sh table (``benchmarks/serve.sh`` runs it).

usage: goals.py COMPARE_OUTPUT
The table's rows are: target req/s ratio p50_ms p99_ms non2xx bytes. A goal whose targets are missing
from the run is said to be not measured, never guessed.
"""

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


def main(path):
    rows = read_table(path)
    print("\ngoals (ratios from this one run):")
    for name, measured, reference, min_ratio, max_p99 in GOALS:
        print(f"  {name:40s} {verdict(rows, measured, reference, min_ratio, max_p99)}")


if __name__ == "__main__":
    main(sys.argv[1])
