#!/usr/bin/env python3
"""Median and min..max over repetitions, one line per configuration.

  summarize.py runs.csv

runs.csv has a `rep` column; the other columns are the configuration
(test, mode, clients, ...: the ones in KEYS) or figures (everything else).
"""
import csv
import statistics
import sys

KEYS = ("what", "fs", "test", "mode", "pipeline", "clients", "conns", "total")


def cell(xs):
    if not xs:
        return "-"
    f = "%.0f" if statistics.median(xs) >= 100 else "%.2f"
    return (f + " [" + f + ".." + f + "]") % (statistics.median(xs), min(xs), max(xs))


def main():
    with open(sys.argv[1]) as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        sys.exit("summarize: no rows in " + sys.argv[1])
    keys = [k for k in rows[0] if k in KEYS]
    figs = [k for k in rows[0] if k not in KEYS and k != "rep"]
    groups = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    print(" | ".join(keys + ["%s median [min..max]" % f for f in figs] + ["reps"]))
    for g, rs in groups.items():
        out = list(g)
        for f in figs:
            out.append(cell([float(r[f]) for r in rs if r[f] not in ("", "nan")]))
        print(" | ".join(out + [str(len(rs))]))


if __name__ == "__main__":
    main()
