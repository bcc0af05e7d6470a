#!/usr/bin/env python3
"""Findings that re-derive themselves.

Each finding is data, fuzz/findings/F*.txt:

    finding F1
    applies torch_cpu LibTorch 1.13      # backend, and text `bncheck list` shows for the linked version
    repro a run --backend torch_cpu --no-baseline --problem '...' -v
    claim a y.failures 11349             # written by --update: the figures the doc quotes

docs/findings.md is generated from docs/findings.md.in, whose {{F1.a.FIELD}} markers
are replaced by the claimed figures ({{F1.a.repro}} by the repro line). Fields, for a
tensor T of the repro's case (y, dx, dgamma, save_mean, ...): T.failures, T.count,
T.max_ratio, T.max_ulp, T.worst (the element), T.worst_ref, T.worst_got,
T.worst_err, T.worst_budget; and verdict.

  ci/findings.py --update   re-runs every repro, rewrites the claims and docs/findings.md
  ci/findings.py --check    re-runs every repro: exit 1 when a claim differs from what
                            the tool prints now or docs/findings.md differs from the
                            claims; a finding whose backend version is not the linked
                            one is skipped (said); exit 77 when every finding was skipped
"""
import argparse, json, os, re, shlex, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIELD_RE = re.compile(r"\{\{(F\w+)\.(\w+)\.([\w.]+)\}\}")


def fmt(v, sig=3):
    if isinstance(v, str):
        return v
    if v != v:
        return "nan"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return "%.*g" % (sig, v)


def read_findings(folder):
    out = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".txt"):
            continue
        f = {"file": os.path.join(folder, name), "repros": {}, "claims": {}, "applies": {}, "lines": []}
        for line in open(f["file"], encoding="utf-8"):
            f["lines"].append(line)
            words = line.split("#", 1)[0].split(None, 2) if not line.lstrip().startswith("repro") else line.split(None, 2)
            if not words:
                continue
            if words[0] == "finding":
                f["id"] = words[1]
            elif words[0] == "applies":
                f["applies"][words[1]] = words[2].strip()
            elif words[0] == "repro":
                f["repros"][words[1]] = words[2].strip()
            elif words[0] == "claim":
                key, value = words[2].split(None, 1)
                f["claims"][(words[1], key)] = value.strip()
        out[f["id"]] = f
    return out


def linked_versions(bncheck):
    text = subprocess.run([bncheck, "list"], capture_output=True, text=True).stdout
    return {line.split()[0]: line for line in text.splitlines() if line and not line.startswith(" ")}


def measure(bncheck, repro):
    """Runs a repro line and returns its figures."""
    words = shlex.split(repro)
    env = dict(os.environ)
    while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
        k, v = words.pop(0).split("=", 1)
        env[k] = v
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.json")
        p = subprocess.run([bncheck] + words + ["--json", out], capture_output=True, text=True, env=env)
        if p.returncode not in (0, 1):
            raise RuntimeError("`%s` exited %d: %s" % (repro, p.returncode, p.stderr.strip()[-300:]))
        cases = json.load(open(out))["cases"]
    if len(cases) != 1:
        raise RuntimeError("`%s` ran %d cases; a repro line names one" % (repro, len(cases)))
    c = cases[0]
    fig = {"verdict": c["verdict"]}
    for t in c["tensors"]:
        n = t["name"]
        fig[n + ".failures"] = fmt(t["failures"])
        fig[n + ".count"] = fmt(t["count"])
        fig[n + ".max_ratio"] = fmt(t["max_err_over_budget"])
        fig[n + ".max_ulp"] = fmt(t["max_ulp"])
        fig[n + ".worst"] = t["worst_element"]
        for k in ("worst_ref", "worst_got"):
            fig[n + "." + k] = fmt(t[k], 9)
        for k in ("worst_err", "worst_budget"):
            fig[n + "." + k] = fmt(t[k])
    return fig


def render(template, findings):
    def sub(m):
        fid, rid, field = m.groups()
        f = findings.get(fid)
        if f is None or rid not in f["repros"]:
            raise KeyError("%s: no finding %s with repro %s" % (m.group(0), fid, rid))
        if field == "repro":   # environment assignments first, as a shell line
            m2 = re.match(r"^((?:[A-Z_][A-Z0-9_]*=\S*\s+)*)(.*)$", f["repros"][rid])
            return m2.group(1) + "build/bncheck " + m2.group(2)
        if (rid, field) not in f["claims"]:
            raise KeyError("%s: no claim %s %s in %s (ci/findings.py --update)" % (m.group(0), rid, field, f["file"]))
        return f["claims"][(rid, field)]
    return FIELD_RE.sub(sub, template)


def used_fields(template):
    used = {}
    for fid, rid, field in FIELD_RE.findall(template):
        if field != "repro":
            used.setdefault(fid, set()).add((rid, field))
    return used


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--update", action="store_true")
    mode.add_argument("--check", action="store_true")
    ap.add_argument("--bncheck", default=os.path.join(ROOT, "build", "bncheck"))
    ap.add_argument("--findings", default=os.path.join(ROOT, "fuzz", "findings"))
    ap.add_argument("--template", default=os.path.join(ROOT, "docs", "findings.md.in"))
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "findings.md"))
    a = ap.parse_args()

    findings = read_findings(a.findings)
    template = open(a.template, encoding="utf-8").read()
    used = used_fields(template)
    linked = linked_versions(a.bncheck)
    problems, skipped, checked = [], [], 0
    for fid, f in findings.items():
        measured, ran = {}, 0
        for rid, repro in f["repros"].items():
            fields = sorted(field for (crid, field) in used.get(fid, set()) if crid == rid)
            if not fields:
                continue   # shown in the doc, no figure quoted from it
            m = re.search(r"--backend (\S+)", repro)
            backend = m.group(1) if m else ""
            version = f["applies"].get(backend, "")
            if backend not in linked or version not in linked[backend]:
                skipped.append("%s.%s: applies to %s %s; the linked %s is %s" % (
                    fid, rid, backend, version, backend or "backend", "absent" if backend not in linked else "another version"))
                for field in fields:   # keep what was claimed
                    if (rid, field) in f["claims"]:
                        measured[(rid, field)] = f["claims"][(rid, field)]
                continue
            fig = measure(a.bncheck, repro)
            ran += 1
            for field in fields:
                if field not in fig:
                    problems.append("%s.%s: the tool prints no %s" % (fid, rid, field))
                else:
                    measured[(rid, field)] = fig[field]
        if not ran:
            continue
        checked += 1
        if a.update:
            f["claims"] = measured
            lines = [l for l in f["lines"] if not l.startswith("claim ")]
            while lines and not lines[-1].strip():
                lines.pop()
            lines += ["claim %s %s %s\n" % (rid, field, v) for (rid, field), v in sorted(measured.items())]
            open(f["file"], "w", encoding="utf-8").writelines(lines)
        else:
            for key, value in sorted(measured.items()):
                claimed = f["claims"].get(key)
                if claimed != value:
                    problems.append("%s.%s.%s: %s claims %s, the tool prints %s" % (
                        fid, key[0], key[1], os.path.relpath(f["file"], ROOT), claimed, value))
    for s in skipped:
        print("skipped: " + s)
    header = ("<!-- Generated by ci/findings.py --update from docs/findings.md.in and fuzz/findings/*.txt:\n"
              "     edit those, not this file. -->\n")
    text = header + render(template, findings)
    if a.update:
        open(a.doc, "w", encoding="utf-8").write(text)
        print("wrote %s (%d findings measured, %d skipped)" % (os.path.relpath(a.doc, ROOT), checked, len(skipped)))
        return 0
    current = open(a.doc, encoding="utf-8").read()
    if current != text:
        import difflib
        diff = list(difflib.unified_diff(current.splitlines(), text.splitlines(), "docs/findings.md", "generated", lineterm="", n=0))
        problems.append("%s differs from what the claims generate:\n%s" % (a.doc, "\n".join(diff[:20])))
    for p in problems:
        print("MISMATCH: " + p)
    if problems:
        return 1
    print("findings: %d checked against the tool, %d skipped; docs/findings.md matches" % (checked, len(skipped)))
    return 77 if checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
