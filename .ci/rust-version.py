#!/usr/bin/env python3
"""Checks that Cargo.toml's rust-version is what the locked dependencies need: the highest
rust-version among the packages Cargo.lock resolves for this machine (a lower one would promise
builds that fail, a higher one would turn away compilers that work)."""
import json
import subprocess
import sys

meta = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--locked",
     "--filter-platform", subprocess.run(["rustc", "-vV"], capture_output=True, text=True,
                                         check=True).stdout.split("host: ")[1].split()[0]],
    capture_output=True, text=True, check=True).stdout)
version = lambda v: tuple(int(x) for x in v.split("."))
root = next(p for p in meta["packages"] if p["id"] == meta["resolve"]["root"])
deps = [(version(p["rust_version"]), p["name"]) for p in meta["packages"]
        if p["rust_version"] and p["id"] != root["id"]]
need, who = max(deps)
ours = version(root["rust_version"])
# Compare as major.minor: "1.88" and "1.88.0" are the same promise.
if ours[:2] != need[:2]:
    sys.exit(f"rust-version is {root['rust_version']}, but the locked {who} needs "
             f"{'.'.join(map(str, need))}: set rust-version to that")
print(f"rust-version {root['rust_version']} matches the locked dependencies ({who})")
