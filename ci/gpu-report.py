#!/usr/bin/env python3
"""Render the raw outputs of ci/gpu-check.sh into docs/gpu-results.md.

    ci/gpu-report.py RAW_DIR OUT.md [--keep DIR]

RAW_DIR holds what ci/gpu-check.sh wrote (environment.txt, list.txt, run-SUITE-BACKEND.txt,
props-BACKEND.txt, fuzz-BACKEND.txt, bench.txt, profile.txt, ctest.txt). --keep DIR
copies the files the report is made from into DIR (docs/gpu-run/), so that the report
can be rendered again, anywhere, from the committed copy.

Every FAIL and ERROR is classified: by inputs/baselines/known-failures.baseline (a
third-party finding of docs/findings.md) or by docs/gpu-run/classes.txt (the same
format: BACKEND PATTERN CLASS TEXT...), else it is listed as UNCLASSIFIED.
"""
import argparse
import collections
import os
import re
import shutil
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAD = ("FAIL", "ERROR", "CRASH", "TIMEOUT", "UNWRITTEN-OUTPUT", "OUT-OF-BOUNDS-WRITE")


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def md(s):
    """Text from a tool's output, safe inside a Markdown table cell."""
    return s.replace("|", "\\|").replace("\n", " ")


def tokens(desc):
    toks = set(desc.split(","))
    sp = next((t for t in toks if t.startswith("sp=")), None)
    toks.add("rank=%d" % (len(sp[3:].split("x")) if sp else 0))
    return toks


def load_rules(path, kind):
    rules = []
    for line in read(path).splitlines():
        line = line.split("#", 1)[0].strip() if kind == "baseline" else line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) < 3:
            continue
        backend, pattern, rest = parts
        label = ("third-party, %s (docs/findings.md)" % rest) if kind == "baseline" else rest
        rules.append((backend, set(pattern.split(",")), label))
    return rules


def classify(rules, backend, desc):
    t = tokens(desc)
    for b, pat, label in rules:
        if b == backend and pat <= t:
            return label
    return "UNCLASSIFIED"


def parse_run(text):
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\s*\d+\s+(\S+)\s+(%s)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$" % "|".join(BAD), line)
        if m:
            rows.append(dict(backend=m.group(1), verdict=m.group(2), max_ulp=m.group(3), ratio=m.group(5),
                             worst=m.group(6), problem=m.group(7)))
    summary = re.search(r"^summary: (.*)$", text, re.M)
    return (summary.group(1) if summary else "no summary (the run did not finish)"), rows


def parse_props(text):
    rows, fails, last = [], [], None
    for line in text.splitlines():
        m = re.match(r"^(\w+)\s+(\S+)\s+(PASS|FAIL|KNOWN|ERROR|\S+)\s+(\d+/\d+)\s*(.*)$", line)
        if m and m.group(1) not in ("property", "summary"):
            last = dict(prop=m.group(1), backend=m.group(2), result=m.group(3), applicable=m.group(4),
                        notes=m.group(5).strip(), message="", minimal="")
            rows.append(last)
            continue
        if last and last["result"] == "FAIL":
            if line.startswith("      minimal after"):
                last["minimal"] = line.split(": ", 1)[1].strip()
                fails.append(last)
            elif line.startswith("      ") and not last["message"]:
                last["message"] = line.strip()
    summary = re.search(r"^summary: (.*)$", text, re.M)
    return (summary.group(1) if summary else "no summary"), rows, fails


def parse_fuzz(text):
    fails, cur = [], None
    for line in text.splitlines():
        m = re.match(r"^(%s) (\S+) on case (\d+)(?: \(known: (\w+)\))?: (.*)$" % "|".join(BAD), line)
        if m:
            cur = dict(verdict=m.group(1), backend=m.group(2), case=m.group(3), known=m.group(4), message=m.group(5),
                       minimal="")
            fails.append(cur)
            continue
        m = re.match(r"^\s+minimal \(\d+ steps?\): (\S+)", line)
        if m and cur:
            cur["minimal"] = m.group(1)
    summary = re.search(r"^summary: (.*)$", text, re.M)
    counts = re.findall(r"^  (\S+)\s+(\d+ PASS.*)$", text, re.M)
    return (summary.group(1) if summary else "no summary"), counts, fails


def parse_bench(text):
    rows = []
    for line in text.splitlines():
        p = line.split()
        if len(p) == 7 and p[1] == "device":
            rows.append(dict(backend=p[0], ms=float(p[2]), mb=float(p[3]), gbps=float(p[4]),
                             frac=float(p[5].rstrip("%")), problem=p[6]))
    return rows


def short(desc):
    keep = []
    for t in desc.split(","):
        k = t.split("=")[0]
        if k in ("n", "c", "sp", "layout", "dt", "dir"):
            keep.append(t)
    return ",".join(keep)


def parse_profile(text):
    out, shape, kernel, vals = [], None, None, {}
    for line in text.splitlines():
        if line.startswith("## "):
            shape = line[3:].strip()
            continue
        m = re.match(r"^\s+(?:void )?(?:\S*::)?(\w+)(?:<[^>]*>)?\(.*\) \(([\d, ]+)\)x\(([\d, ]+)\)", line)
        if m:
            kernel, vals = m.group(1), {"grid": m.group(2).replace(" ", ""), "block": m.group(3).replace(" ", "")}
            continue
        m = re.match(r"^\s+(dram__bytes_read\.sum|dram__bytes_write\.sum|dram__throughput\S*|gpu__time_duration\.sum|"
                     r"sm__throughput\S*)\s+(\S+)\s+([\d.,]+)", line)
        if m and kernel:
            scale = {"byte": 1e-6, "Kbyte": 1e-3, "Mbyte": 1, "Gbyte": 1e3, "us": 1, "ms": 1e3, "ns": 1e-3, "%": 1}
            v = float(m.group(3).replace(",", "")) * scale.get(m.group(2), 1)
            vals[m.group(1).split(".")[0]] = v
            if m.group(1).startswith("sm__"):
                out.append((shape, kernel, dict(vals)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("out")
    ap.add_argument("--keep")
    a = ap.parse_args()
    raw = a.raw
    names = sorted(os.listdir(raw))
    if a.keep and os.path.abspath(a.keep) != os.path.abspath(raw):
        os.makedirs(a.keep, exist_ok=True)
        for n in names:
            if re.match(r"^(environment|list|steps|bench|profile|save-segv)\.txt$|^steps\.log$|^(run|props|fuzz)-.*\.txt$", n):
                shutil.copy(os.path.join(raw, n), os.path.join(a.keep, n))
        ct = read(os.path.join(raw, "ctest.txt"))
        i = ct.find("tests passed")
        with open(os.path.join(a.keep, "ctest-summary.txt"), "w", encoding="utf-8") as f:
            f.write(ct[ct.rfind("\n", 0, i) + 1:] if i >= 0 else ct[-4000:])
    rules = load_rules(os.path.join(ROOT, "inputs/baselines/known-failures.baseline"), "baseline") + \
        load_rules(os.path.join(ROOT, "docs/gpu-run/classes.txt"), "classes")
    L = []
    w = L.append
    env = read(os.path.join(raw, "environment.txt")).strip().splitlines()
    w("<!-- Generated by ci/gpu-report.py from the raw outputs of ci/gpu-check.sh (kept in docs/gpu-run/):")
    w("     run `ci/gpu-check.sh` on a GPU machine, or `ci/gpu-report.py docs/gpu-run docs/gpu-results.md`. -->")
    w("# GPU results")
    w("")
    w("One run of `ci/gpu-check.sh`: build with CUDA and the machine's LibTorch, the tests, `bncheck run`")
    w("(default, ill-conditioned and ResNet-50 suites), `props` and a time-bounded `fuzz` on every CUDA backend,")
    w("then `bncheck bench` on every ResNet-50 BatchNorm shape and a profile of `cuda_welford`'s kernels.")
    w("Every FAIL below is classified (third-party findings: docs/findings.md; the rest: docs/gpu-run/classes.txt).")
    w("")
    w("## Machine")
    w("")
    w("```")
    L.extend(env)
    w("```")
    w("")
    w("Backends (`bncheck list`):")
    w("")
    w("```")
    for line in read(os.path.join(raw, "list.txt")).splitlines():
        if re.match(r"^(backend|cuda_|cudnn_|torch_cuda)", line):
            w(line)
    w("```")
    w("")

    # Verdicts.
    backends = []
    for n in names:
        m = re.match(r"^props-(.+)\.txt$", n)
        if m:
            backends.append(m.group(1))
    suites = ["default", "ill-conditioned", "resnet50"]
    classified = []  # (source, backend, verdict, problem, detail, class)
    w("## Verdicts")
    w("")
    w("| backend | " + " | ".join("run --suite " + s for s in suites) + " | props | fuzz |")
    w("|---|" + "---|" * (len(suites) + 2))
    fuzz_info = {}
    for b in backends:
        cells = []
        for s in suites:
            summ, rows = parse_run(read(os.path.join(raw, "run-%s-%s.txt" % (s, b))))
            cells.append(summ)
            for r in rows:
                classified.append(("run --suite " + s, b, r["verdict"], r["problem"],
                                   "%s: %s× budget" % (r["worst"], r["ratio"])))
        psum, _, pfails = parse_props(read(os.path.join(raw, "props-%s.txt" % b)))
        for f in pfails:
            classified.append(("props " + f["prop"], b, "FAIL", f["minimal"], f["message"]))
        fsum, counts, ffails = parse_fuzz(read(os.path.join(raw, "fuzz-%s.txt" % b)))
        fuzz_info[b] = (fsum, counts)
        for f in ffails:
            classified.append(("fuzz case " + f["case"], b, f["verdict"], f["minimal"], f["message"]))
        fz = "; ".join(c for _, c in counts) + " (" + fsum + ")"
        w("| %s | %s | %s | %s |" % (b, " | ".join(md(c) for c in cells), md(psum), md(fz)))
    w("")
    errors = sum(1 for c in classified if c[2] != "FAIL")
    w("ERROR (or worse) verdicts: %d. FAIL and ERROR verdicts, each with its class (fuzz and props show the" % errors)
    w("minimised problem):")
    w("")
    w("| where | backend | verdict | problem | detail | class |")
    w("|---|---|---|---|---|---|")
    unclassified = 0
    for src, b, v, prob, detail in classified:
        cls = classify(rules, b, prob)
        unclassified += cls == "UNCLASSIFIED"
        w("| %s | %s | %s | `%s` | %s | %s |" % (src, b, v, md(prob), md(detail), md(cls)))
    w("")
    w("Unclassified: %d." % unclassified)
    w("")

    # Bench.
    rows = parse_bench(read(os.path.join(raw, "bench.txt")))
    if rows:
        by = collections.OrderedDict()
        for r in rows:
            by.setdefault(r["problem"], {})[r["backend"]] = r
        names_b = []
        for r in rows:
            if r["backend"] not in names_b:
                names_b.append(r["backend"])
        ours = "cuda_welford"
        w("## Speed: every ResNet-50 BatchNorm shape at batch 32 and 256")
        w("")
        w("`bncheck bench --suite resnet50-gpu-bench --warmup 3 --reps 20`: the median time per call of the kernels")
        w("alone (CUDA events, data resident on the device), the minimal bytes moved (read x, and dy for backward;")
        w("write y or dx) and that rate as a fraction of a device-to-device copy of the same tensor measured in the")
        w("same run (bytes read + written).")
        w("")
        w("| backend | batch | median of copy bandwidth | min | max |")
        w("|---|---|---|---|---|")
        for b in names_b:
            for n in ("32", "256"):
                f = [d[b]["frac"] for p, d in by.items() if b in d and re.search(r"(^|,)n=%s," % n, p)]
                if f:
                    w("| %s | %s | %.1f%% | %.1f%% | %.1f%% |" % (b, n, statistics.median(f), min(f), max(f)))
        w("")
        for n in ("32", "256"):
            probs = [(p, d) for p, d in by.items() if re.search(r"(^|,)n=%s," % n, p) and ours in d]
            fastest = sum(1 for p, d in probs if d[ours]["ms"] <= min(v["ms"] for v in d.values()))
            above = sum(1 for p, d in probs if d[ours]["frac"] >= 85)
            w("- batch %s: `%s` is the fastest on %d of %d problems, and reaches 85%% of the copy bandwidth on %d."
              % (n, ours, fastest, len(probs), above))
        w("")
        w("Per problem: milliseconds (fraction of the copy bandwidth); the fastest in bold.")
        w("")
        w("| problem | " + " | ".join(names_b) + " |")
        w("|---|" + "---|" * len(names_b))
        for p, d in by.items():
            best = min(v["ms"] for v in d.values())
            cells = []
            for b in names_b:
                if b not in d:
                    cells.append("-")
                    continue
                c = "%.3f (%.0f%%)" % (d[b]["ms"], d[b]["frac"])
                cells.append("**%s**" % c if d[b]["ms"] == best else c)
            w("| `%s` | %s |" % (short(p), " | ".join(cells)))
        w("")

    prof = parse_profile(read(os.path.join(raw, "profile.txt")))
    if prof:
        w("## Profile of cuda_welford (Nsight Compute, unlocked clocks)")
        w("")
        w("| problem (n=256) | kernel | grid | µs | DRAM read MB | DRAM write MB | DRAM % of peak | SM % of peak |")
        w("|---|---|---|---|---|---|---|---|")
        for shape, k, v in prof:
            w("| `%s` | %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f |" % (
                short(shape), k, v.get("grid", ""), v.get("gpu__time_duration", 0), v.get("dram__bytes_read", 0),
                v.get("dram__bytes_write", 0), v.get("dram__throughput", 0), v.get("sm__throughput", 0)))
        w("")

    analysis = read(os.path.join(ROOT, "docs/gpu-run/analysis.md")).strip()
    if analysis and prof:
        w(analysis)
        w("")

    ct = read(os.path.join(raw, "ctest.txt")) or read(os.path.join(raw, "ctest-summary.txt"))
    m = re.search(r"^(\d+% tests passed, \d+ tests failed out of \d+)", ct, re.M)
    if m:
        w("## Tests (ctest on the GPU machine)")
        w("")
        w(m.group(1) + ". Failed:")
        w("")
        why = {}
        for line in read(os.path.join(ROOT, "docs/gpu-run/tests.txt")).splitlines():
            if line.strip() and not line.startswith("#"):
                name, _, reason = line.partition(" ")
                why[name] = reason.strip()
        failed = ct[ct.find("The following tests FAILED:"):] if "The following tests FAILED:" in ct else ""
        for name, how in re.findall(r"^\s+\d+ - (\S+)(?:  #.*)? \(([^)]+)\)\s*$", failed, re.M):
            w("- `%s` (%s): %s" % (name, how, md(why.get(name, "UNCLASSIFIED"))))
        w("")
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n".join(L) + "\n")
    print("wrote %s: %d FAIL/ERROR verdicts, %d unclassified, %d ERROR" % (a.out, len(classified), unclassified, errors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
