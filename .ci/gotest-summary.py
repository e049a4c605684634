#!/usr/bin/env python3
"""Reads `go test -json` on stdin, prints what plain `go test` would (package
lines, and the whole output of failed tests), then one closing line:
'tests: N passed, M failed, K skipped'. Exit 1 when anything failed."""
import json, sys

out = {}        # (pkg, test) -> [lines]
passed = failed = skipped = 0
bad_pkgs = 0
for raw in sys.stdin:
    try:
        ev = json.loads(raw)
    except ValueError:
        print(raw, end="")
        continue
    pkg, test, act = ev.get("Package", ""), ev.get("Test"), ev.get("Action")
    if act == "output":
        out.setdefault((pkg, test), []).append(ev.get("Output", ""))
        if test is None:
            line = ev.get("Output", "")
            if line.startswith(("ok ", "FAIL", "?   ", "--- FAIL", "panic")) or "[build failed]" in line:
                print(line, end="")
        continue
    if test is None:
        if act == "fail":
            bad_pkgs += 1
            for l in out.get((pkg, None), []):
                if not l.startswith(("ok ", "FAIL\t")):
                    print(l, end="")
        continue
    if act == "pass":
        passed += 1
    elif act == "skip":
        skipped += 1
    elif act == "fail":
        failed += 1
        print("".join(out.get((pkg, test), [])), end="")
sys.stdout.flush()
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or bad_pkgs else 0)
