#!/usr/bin/env python3
"""Builds every Rust snippet of README.md in a fresh crate, as a user would.

The fresh crate (target/readme-check/crate) gets exactly the dependencies of
the README's first ```toml block, with the facade's git dependency pointed at
this checkout; each ```rust block becomes one example (a block without
`fn main` is wrapped in one, as rustdoc does); then `cargo build --examples`
must succeed. The workspace's Cargo.lock is copied in, so the check uses the
versions the workspace is tested with and needs no new downloads.

Usage: scripts/readme-check.py [README.md]
"""
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
readme_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "README.md")
text = open(readme_path, encoding="utf-8").read()

blocks = re.findall(r"^```([^\n]*)\n(.*?)^```", text, flags=re.S | re.M)
toml = next((body for info, body in blocks if info.strip() == "toml"), None)
if toml is None:
    sys.exit("readme-check: README.md has no ```toml block listing the dependencies")
if "resilience-kit" not in toml:
    sys.exit("readme-check: the README's dependencies do not name `resilience-kit`")

# The facade from this checkout instead of the git URL users would fetch.
toml = re.sub(
    r'^resilience-kit\s*=\s*\{[^}\n]*?\bgit\s*=\s*"[^"]*"',
    'resilience-kit = { path = "%s"' % ROOT.replace("\\", "/"),
    toml,
    flags=re.M,
)
if 'path = "' not in toml:
    sys.exit("readme-check: could not point `resilience-kit` at this checkout: %r" % toml)

snippets = [body for info, body in blocks if info.split(",")[0].strip() == "rust"]
if not snippets:
    sys.exit("readme-check: README.md has no ```rust blocks")

base = os.path.join(ROOT, "target", "readme-check")
crate = os.path.join(base, "crate")
shutil.rmtree(crate, ignore_errors=True)
os.makedirs(os.path.join(crate, "examples"))
os.makedirs(os.path.join(crate, "src"))
with open(os.path.join(crate, "Cargo.toml"), "w") as f:
    f.write('[package]\nname = "readme-check"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n')
    f.write("[workspace]\n\n")
    f.write(toml)
with open(os.path.join(crate, "src", "lib.rs"), "w") as f:
    f.write("//! Empty: the README's snippets are this crate's examples.\n")
shutil.copy(os.path.join(ROOT, "Cargo.lock"), os.path.join(crate, "Cargo.lock"))

for i, body in enumerate(snippets, 1):
    lines = [l[2:] if l.startswith("# ") else ("" if l == "#" else l) for l in body.splitlines()]
    code = "\n".join(lines) + "\n"
    if not re.search(r"\bfn main\s*\(", code):
        uses = [l for l in lines if l.startswith("use ")]
        rest = [l for l in lines if not l.startswith("use ")]
        code = "\n".join(uses) + "\nfn main() {\n" + "\n".join(rest) + "\n}\n"
    with open(os.path.join(crate, "examples", "snippet_%02d.rs" % i), "w") as f:
        f.write(code)

print("readme-check: %d snippets, dependencies:\n%s" % (len(snippets), toml.strip()))
env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(base, "target"))
cmd = ["cargo", "build", "--quiet", "--examples", "--manifest-path", os.path.join(crate, "Cargo.toml")]
result = subprocess.run(cmd, env=env)
if result.returncode != 0:
    sys.exit("readme-check: a README snippet does not build with the README's dependencies "
             "(see above; the crate is in %s)" % crate)
print("readme-check: every README snippet builds in a fresh crate")
