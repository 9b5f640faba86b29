"""``tinct methods [NAME]``: list registered methods and their parameters."""

from __future__ import annotations

import json
import sys

from tinct.registry import INPUT_KINDS, get_method, list_methods


def add_parser(sub) -> None:
    p = sub.add_parser("methods", help="list methods and their parameters", description=__doc__)
    p.add_argument("name", nargs="?", help="show one method in detail")
    p.add_argument("--kind", choices=["transfer", "colorize"], help="only methods of this kind")
    p.add_argument("--json", action="store_true", help="machine-readable schema")
    p.set_defaults(func=run)


def run(args) -> int:
    methods = [get_method(args.name)] if args.name else list_methods(args.kind)
    if args.json:
        json.dump([m.schema() for m in methods], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not args.name:
        width = max(len(m.name) for m in methods)
        for m in methods:
            print(f"{m.name:<{width}}  {m.kind:<9}  {m.summary}")
        return 0
    m = methods[0]
    print(f"{m.name} ({m.kind}): {m.summary}")
    if m.extra:
        print(f"needs: pip install \"tinct[{m.extra}]\"")
    if m.inputs:
        print("inputs:")
    for i in m.inputs:
        flag = f"--{i.key.replace('_', '-')}" if i.key in ("reference", "mask", "reference_mask", "scribbles",
                                                            "hints", "regions") else f"--input {i.key}=FILE"
        print(f"  {flag:<24} {'required' if i.required else 'optional'}: {i.help or INPUT_KINDS[i.kind]}")
    for p in m.params:
        bounds = []
        if p.min is not None or p.max is not None:
            bounds.append(f"range [{p.min if p.min is not None else '-inf'}, {p.max if p.max is not None else 'inf'}]")
        if p.choices:
            bounds.append("one of " + "|".join(p.choices))
        extra = f"; {'; '.join(bounds)}" if bounds else ""
        print(f"  --param {p.name}=<{p.type}>  default {p.default!r}{extra}\n      {p.help}")
    return 0
