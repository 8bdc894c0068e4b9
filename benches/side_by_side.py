#!/usr/bin/env python3
"""One table from `darts-pt bench --json` and `pytorch_reference.py --json` rows (same cases).

Usage: side_by_side.py DARTS_PT.json [PYTORCH.json]
Ratios are darts-pt's images/s over PyTorch's (the goal on the paper-scale rows: >= 0.8).
"""
import json
import sys


def load(path):
    with open(path) as f:
        return {r["case"]: r for r in json.load(f)}


def cell(value, fmt):
    return format(value, fmt) if value is not None else "-"


def main():
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    ours = load(sys.argv[1])
    theirs = load(sys.argv[2]) if len(sys.argv) == 3 else {}
    cols = [("case", "<24"), ("step", "<6"), ("darts-pt ms", ">11"), ("img/s", ">7"),
            ("PyTorch ms", ">10"), ("img/s", ">7"), ("ratio", ">6")]
    print(" ".join(format(name, f) for name, f in cols))
    steps = [("weight", "weight_step_ms"), ("darts", "darts_step_ms"),
             ("fwd", "forward_ms"), ("PT", "pt_eval_ms"), ("first", "first_step_ms")]
    for case, r in ours.items():
        t = theirs.get(case, {})
        for label, key in steps:
            a, b = r.get(key), t.get(key)
            ratio = b / a if a and b else None
            print(" ".join([
                format(case if label == "weight" else "", "<24"), format(label, "<6"),
                cell(a, ">11.1f"), cell(64e3 / a if a else None, ">7.0f"),
                cell(b, ">10.1f"), cell(64e3 / b if b else None, ">7.0f"),
                cell(ratio if label != "first" else None, ">6.2f"),
            ]))
        print(" ".join([
            format("", "<24"), format("mem", "<6"),
            cell(r.get("device_mib"), ">9.0f") + " MiB",
            cell(t.get("device_mib"), ">15.0f") + " MiB",
            f"   dispatches/step {r.get('weight_dispatches', 0):.0f} (weight) "
            f"{r.get('darts_dispatches', 0):.0f} (darts); host reads/step "
            f"{r.get('weight_host_reads', 0):.1f}",
        ]))
    if not theirs:
        print("(no PyTorch rows: none were asked for, or see the message above)")


if __name__ == "__main__":
    main()
