#!/usr/bin/env python3
"""Reads a conformance token spec (JSON) on stdin and mints it with `libsette token create`."""
import json
import os
import subprocess
import sys

spec = json.load(sys.stdin)
cmd = [os.environ["LIBSETTE_BIN"], "token", "create", os.environ["CONFORMANCE_SPACE"], spec["actor"]]
for action in spec.get("all", []):
    cmd += ["-a", action]
for db, action in spec.get("database", []):
    cmd += ["-d", db, action]
for db, resource, action in spec.get("resource", []):
    cmd += ["-r", db, resource, action]
if "expires_after" in spec:
    cmd += ["--expires-after", str(spec["expires_after"])]
print(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())
