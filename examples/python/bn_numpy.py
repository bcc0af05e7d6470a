#!/usr/bin/env python3
"""Batch normalization in NumPy (float32 arithmetic for f32/f16/bf16 data, float64 for
f64), checked by bncheck through its file protocol:

    bncheck gen --suite smoke --out cases      # inputs as .npy, problem.json per case
    python3 examples/python/bn_numpy.py cases  # writes the outputs problem.json names
    bncheck check cases --name bn_numpy        # verdicts, errors against the budget, repro

--plant writes a known bug instead (forward: eps added outside the square root;
backward: the dbeta term left out of dx), which `bncheck check` must catch.
"""
import argparse
import json
import os
import sys

import numpy as np


def round_to_bf16(a):
    """float32 values rounded to the nearest bf16 value (ties to even), kept as float32."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    r = u.astype(np.uint32).view(np.float32)
    return np.where(np.isnan(a), a, r)


def store(path, a, dtype_name):
    if dtype_name == "bf16":
        a = round_to_bf16(a)
    elif dtype_name == "f16":
        a = a.astype(np.float16)
    elif dtype_name == "f32":
        a = a.astype(np.float32)
    else:
        a = a.astype(np.float64)
    np.save(path, np.ascontiguousarray(a))


def batch_norm(case_dir, plant):
    with open(os.path.join(case_dir, "problem.json")) as f:
        pj = json.load(f)
    ct = np.float64 if pj["dtype"] == "f64" else np.float32  # compute type
    conv = dict(kv.split("=") for kv in pj["conventions"].split(","))
    load = lambda name: np.load(os.path.join(case_dir, pj["inputs"][name])).astype(ct)
    x = load("x")
    axis = pj["channel_axis"]
    reduce = tuple(i for i in range(x.ndim) if i != axis)
    bshape = [1] * x.ndim
    bshape[axis] = x.shape[axis]
    per_channel = lambda v: v.reshape(bshape)
    m = int(np.prod([x.shape[i] for i in reduce]))
    eps = ct(np.float32(pj["eps"]) if pj["eps_dtype"] == "f32" else pj["eps"])
    channels = x.shape[axis]
    gamma = load("gamma") if pj["affine"] else np.ones(channels, ct)
    beta = load("beta") if pj["affine"] else np.zeros(channels, ct)
    out = {}

    def invstd_of(var):
        with np.errstate(divide="ignore", invalid="ignore"):
            if plant:
                return ct(1) / (np.sqrt(var) + eps)
            return ct(1) / np.sqrt(var + eps)

    direction = pj["direction"]
    if direction == "fwd_train":
        mean = x.mean(axis=reduce, dtype=ct)
        var = ((x - per_channel(mean)) ** 2).mean(axis=reduce, dtype=ct)
        invstd = invstd_of(var)
        out["y"] = (x - per_channel(mean)) * per_channel(invstd * gamma) + per_channel(beta)
        out["save_mean"] = mean
        out["save_stat"] = invstd if conv["save"] == "invstd" else var
        if conv["running"] == "kept":
            if conv["rvar"] == "biased" or (m == 1 and conv["m1_rvar"] == "biased"):
                stat_var = var
            elif m == 1:
                stat_var = np.full_like(var, np.nan)
            else:
                stat_var = var * ct(m) / ct(m - 1)
            mom = ct(pj["momentum"])
            w_old, w_new = (ct(1) - mom, mom) if conv["momdir"] == "new" else (mom, ct(1) - mom)
            out["running_mean"] = w_old * load("running_mean") + w_new * mean
            out["running_var"] = w_old * load("running_var") + w_new * stat_var
    elif direction == "fwd_infer":
        invstd = invstd_of(load("running_var"))
        out["y"] = (x - per_channel(load("running_mean"))) * per_channel(invstd * gamma) + per_channel(beta)
    else:
        dy = load("dy")
        mean = load("save_mean")
        stat = load("save_stat")
        with np.errstate(divide="ignore", invalid="ignore"):
            invstd = stat if conv["save"] == "invstd" else ct(1) / np.sqrt(stat + eps)
        xhat = (x - per_channel(mean)) * per_channel(invstd)
        dbeta = dy.sum(axis=reduce, dtype=ct)
        dgamma = (dy * xhat).sum(axis=reduce, dtype=ct)
        centred = ct(m) * dy - (0 if plant else per_channel(dbeta)) - xhat * per_channel(dgamma)
        out["dx"] = per_channel(gamma * invstd / ct(m)) * centred
        if pj["affine"]:
            out["dgamma"] = dgamma
            out["dbeta"] = dbeta

    for name, file in pj["outputs"].items():
        per_element = name in ("y", "dx")
        store(os.path.join(case_dir, file), out[name], pj["dtype"] if per_element else pj["pdtype"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="a case written by `bncheck gen`, or a directory of them")
    ap.add_argument("--plant", action="store_true", help="write a known bug (see above)")
    args = ap.parse_args()
    if os.path.exists(os.path.join(args.dir, "problem.json")):
        cases = [args.dir]
    else:
        cases = sorted(os.path.join(args.dir, d) for d in os.listdir(args.dir)
                       if os.path.exists(os.path.join(args.dir, d, "problem.json")))
    if not cases:
        sys.exit("no problem.json under " + args.dir)
    for case_dir in cases:
        batch_norm(case_dir, args.plant)
    print("wrote the outputs of %d cases" % len(cases))


if __name__ == "__main__":
    main()
