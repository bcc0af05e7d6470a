// `bncheck study`: precision studies (harness/study.hpp): a parameter swept over
// backends, built-in or plugins, or over the outputs an implementation in any language
// wrote for the study's cases (--gen DIR, then --check DIR).
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "api/text.hpp"
#include "cli/common.hpp"
#include "fuzz/campaign.hpp"
#include "harness/case_data.hpp"
#include "harness/case_files.hpp"
#include "harness/file_protocol.hpp"
#include "harness/study.hpp"

namespace bncheck::cli {

namespace {

double parse_value(const std::string& opt, const std::string& v) {
  double d = 0;
  const auto r = std::from_chars(v.data(), v.data() + v.size(), d);
  if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size() || !std::isfinite(d) || d < 0)
    throw UsageError(opt + ": '" + printable(v, 40) + "' is not a number >= 0");
  return d;
}

// PARAM=V1,V2,... or PARAM=FROM:TO:COUNT (log-spaced); dtype takes names.
study::Sweep parse_sweep(const std::string& opt, const std::string& text) {
  const size_t eq = text.find('=');
  study::Sweep s;
  if (eq == std::string::npos || !study::parse_param(text.substr(0, eq), &s.param))
    throw UsageError(opt + " is PARAM=VALUES, PARAM one of kappa, m, eps, dtype: not '" + printable(text, 60) + "'");
  const std::string v = text.substr(eq + 1);
  if (s.param == study::Param::dtype) {
    size_t start = 0;
    while (start <= v.size()) {
      const size_t comma = v.find(',', start);
      const std::string name = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      const auto dt = parse_dtype(name);
      if (!dt) throw UsageError(opt + ": unknown dtype '" + printable(name, 20) + "' (f64, f32, bf16, f16)");
      for (size_t i = 0; i < 4; ++i)
        if (study::kDtypes[i] == *dt) s.values.push_back(static_cast<double>(i));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  } else if (std::count(v.begin(), v.end(), ':') == 2) {
    const size_t c1 = v.find(':'), c2 = v.find(':', c1 + 1);
    const double from = parse_value(opt, v.substr(0, c1)), to = parse_value(opt, v.substr(c1 + 1, c2 - c1 - 1));
    const int64_t count = parse_integer(opt, v.substr(c2 + 1), 2, 1000);
    if (!(from > 0 && to > from)) throw UsageError(opt + ": FROM:TO:COUNT needs 0 < FROM < TO");
    for (int64_t k = 0; k < count; ++k)
      s.values.push_back(from * std::pow(to / from, static_cast<double>(k) / static_cast<double>(count - 1)));
  } else {
    size_t start = 0;
    while (start <= v.size()) {
      const size_t comma = v.find(',', start);
      s.values.push_back(
          parse_value(opt, v.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (s.values.empty()) throw UsageError(opt + ": no values");
  for (double x : s.values)
    if ((s.param == study::Param::kappa && x < 1) || (s.param == study::Param::m && (x < 1 || x > 1e10)))
      throw UsageError(opt + ": kappa >= 1, 1 <= m <= 1e10");
  return s;
}

std::string read_study_file(const std::string& path) {
  try {
    return read_file(path, size_t{1} << 30);
  } catch (const std::exception& e) {
    throw UsageError("--merge " + printable(path) + ": " + e.what());
  }
}

void write_file(const std::string& path, const std::string& text) {
  if (!write_report(path, text)) throw UsageError("cannot write " + printable(path));
}

}  // namespace

int cmd_study(Args& a) {
  BackendOptions bo;
  std::string preset_name, backend_spec, out, gen_dir, check_dir, name = "file", base_text, fit_output;
  std::vector<study::Sweep> sweeps;
  std::vector<std::string> merge;
  int seeds = -1, shard = 0, shards = 1;
  bool quiet = false, strict = false;
  while (a.more()) {
    const std::string opt = a.next();
    if (opt == "--preset")
      preset_name = a.value(opt);
    else if (opt == "--sweep")
      sweeps.push_back(parse_sweep(opt, a.value(opt)));
    else if (opt == "--problem")
      base_text = a.value(opt);
    else if (opt == "--fit")
      fit_output = a.value(opt);
    else if (opt == "--backend")
      backend_spec = a.value(opt);
    else if (opt == "--seeds")
      seeds = static_cast<int>(a.integer(opt, 1, 1000));
    else if (opt == "--out")
      out = a.value(opt);
    else if (opt == "--gen")
      gen_dir = a.value(opt);
    else if (opt == "--check")
      check_dir = a.value(opt);
    else if (opt == "--name") {
      name = a.value(opt);
      if (!valid_backend_name(name))
        throw UsageError("--name '" + printable(name, 60) + "': letters, digits, '_', '-'");
    } else if (opt == "--quiet" || opt == "-q")
      quiet = true;
    else if (opt == "--strict")
      strict = true;
    else if (opt == "--shard")
      parse_shard(opt, a.value(opt), &shard, &shards);
    else if (opt == "--merge")
      merge.push_back(a.value(opt));
    else if (!bo.parse(opt, a))
      throw UsageError("unknown option '" + printable(opt, 60) + "' for study");
  }
  study::Spec spec;
  if (!preset_name.empty()) {
    if (!sweeps.empty() || !base_text.empty() || !fit_output.empty())
      throw UsageError("--preset comes with its sweeps, problems and fitted outputs: no --sweep, --problem or --fit");
    if (!study::preset(preset_name, &spec)) {
      std::string names;
      for (const auto& n : study::preset_names()) names += (names.empty() ? "" : ", ") + n;
      throw UsageError("unknown preset '" + printable(preset_name, 40) + "' (" + names + ")");
    }
  } else {
    if (sweeps.empty()) throw UsageError("study needs --preset NAME or --sweep PARAM=VALUES");
    Problem base = parse_problem(base_text.empty() ? "n=100,c=1,sp=100,dt=f32,pdt=f64,save=var" : base_text);
    if (!base.split.empty()) throw UsageError("--problem: a study does not sweep split= problems");
    const std::vector<std::string> outputs =
        base.dir == Direction::fwd_train
            ? std::vector<std::string>{"y", "save_mean", "save_stat", "running_mean", "running_var"}
        : base.dir == Direction::fwd_infer ? std::vector<std::string>{"y"}
                                           : std::vector<std::string>{"dx", "dgamma", "dbeta"};
    if (!fit_output.empty() && std::find(outputs.begin(), outputs.end(), fit_output) == outputs.end()) {
      std::string names;
      for (const auto& n : outputs) names += (names.empty() ? "" : ", ") + n;
      throw UsageError("--fit " + printable(fit_output, 40) + ": " + to_string(base.dir) + " has the outputs " + names);
    }
    for (auto& s : sweeps) {
      s.base = base;
      s.fit_output = fit_output.empty() ? (base.dir == Direction::bwd ? "dx" : "y") : fit_output;
    }
    spec.title = "bncheck study";
    spec.sweeps = sweeps;
  }
  if (seeds > 0) spec.seeds = seeds;
  if (!gen_dir.empty() && !check_dir.empty()) throw UsageError("--gen and --check: one or the other");
  if (!merge.empty() && (!gen_dir.empty() || !check_dir.empty() || shards > 1))
    throw UsageError("--merge reads the shards' study.json: no --gen, --check or --shard with it");
  if (shards > 1) spec.shard = std::to_string(shard) + "/" + std::to_string(shards);
  if (!out.empty()) check_writable_dir("--out", out);

  // --gen: the study's cases as files, for an implementation in any language.
  if (!gen_dir.empty()) {
    std::error_code ec;
    if (std::filesystem::exists(gen_dir, ec) && !std::filesystem::is_empty(gen_dir, ec))
      throw UsageError("--gen " + printable(gen_dir) + " exists and is not empty");
    std::filesystem::create_directories(gen_dir, ec);
    int written = 0;
    for (size_t s = 0; s < spec.sweeps.size(); ++s)
      for (size_t i = 0; i < spec.sweeps[s].values.size(); ++i)
        for (int k = 1; k <= spec.seeds; ++k) {
          const Problem p = study::point_problem(spec.sweeps[s], i, k);
          const auto w = write_generated_case(gen_dir + "/" + study::case_name(s, i, k), p, p.conv);
          if (!w) {
            std::fprintf(stderr, "bncheck study: %s\n", w.error().c_str());
            return kExitFail;
          }
          ++written;
        }
    std::printf("wrote %d cases under %s: write their outputs, then `bncheck study ... --check %s`\n", written,
                printable(gen_dir).c_str(), printable(gen_dir).c_str());
    return kExitOk;
  }

  std::vector<std::unique_ptr<Backend>> all;
  std::vector<Backend*> backends;
  FileBackend files(name, std::nullopt);
  std::vector<study::Row> rows;
  std::vector<std::string> names;
  if (!merge.empty()) {
    // The shards' measurements, each (sweep, point, seed, backend) once.
    std::set<std::tuple<size_t, size_t, int, std::string>> seen;
    for (const std::string& path : merge) {
      const auto got = study::read_rows(read_study_file(path), spec);
      if (!got) throw UsageError(printable(path) + ": " + got.error());
      for (const study::Row& r : *got) {
        if (!seen.insert({r.sweep, r.point, r.seed, r.backend}).second)
          throw UsageError(printable(path) + ": " + r.backend + " at sweep " + std::to_string(r.sweep) + " point " +
                           std::to_string(r.point) + " seed " + std::to_string(r.seed) + " is in two shards");
        if (std::find(names.begin(), names.end(), r.backend) == names.end()) names.push_back(r.backend);
        rows.push_back(r);
      }
    }
    // In the order a single run makes them.
    std::stable_sort(rows.begin(), rows.end(), [](const study::Row& x, const study::Row& y) {
      return std::tie(x.sweep, x.point, x.seed) < std::tie(y.sweep, y.point, y.seed);
    });
  } else if (!check_dir.empty()) {
    backends.push_back(&files);
  } else {
    all = bo.load();
    std::string sel = backend_spec;
    if (sel.empty()) {
      for (const auto& n : spec.backends) sel += (sel.empty() ? "" : ",") + n;
      if (sel.empty()) sel = "all";
    }
    backends = select_backends(all, sel);
  }
  if (merge.empty()) {
    names.reserve(backends.size());
    for (Backend* b : backends) names.push_back(b->name());
  }

  size_t total = 0, done = 0, index = 0;
  for (const auto& s : spec.sweeps) total += s.values.size() * static_cast<size_t>(spec.seeds);
  ProgressLine progress(!quiet && isatty(fileno(stderr)));
  const double t0 = fuzz::now_seconds();
  for (size_t s = 0; s < spec.sweeps.size() && merge.empty(); ++s) {
    const study::Sweep& sw = spec.sweeps[s];
    for (size_t i = 0; i < sw.values.size(); ++i)
      for (int k = 1; k <= spec.seeds; ++k, ++done) {
        if (index++ % static_cast<size_t>(shards) != static_cast<size_t>(shard)) continue;  // another shard's
        progress.show(static_cast<int>(done), static_cast<int>(total), 0, fuzz::now_seconds() - t0);
        auto ident = [&](study::Row r, const Problem& p) {
          r.sweep = s;
          r.point = i;
          r.seed = k;
          r.x_nominal = sw.values[i];
          if (sw.param == study::Param::m) r.x = static_cast<double>(p.reduction_size());
          if (sw.param == study::Param::eps) r.x = p.eps;
          if (sw.param == study::Param::dtype) r.x = sw.values[i];
          return r;
        };
        if (!check_dir.empty()) {
          const std::string dir = check_dir + "/" + study::case_name(s, i, k);
          std::error_code ec;
          if (!std::filesystem::exists(dir + "/problem.json", ec)) {
            study::Row r;
            r.backend = name;
            r.verdict = Verdict::skipped;
            r.message = "no case " + printable(dir) + " (write it with --gen)";
            rows.push_back(ident(r, study::point_problem(sw, i, k)));
            continue;
          }
          // The case must be this point's: another sweep's files would be plotted here.
          const Problem want = study::point_problem(sw, i, k);
          std::string why;
          try {
            GeneratedCase g = read_generated_case(dir);
            if (to_string(g.problem) == to_string(want)) {
              files.set_case(dir, g.conv);
              CaseRunner r(g.problem, std::move(g.data));
              rows.push_back(ident(study::measure(r, files), g.problem));
              continue;
            }
            why = printable(dir) + " holds " + to_string(g.problem) + ", not this point's " + to_string(want);
          } catch (const std::exception& e) {
            why = printable(dir) + ": " + e.what();
          }
          study::Row r;
          r.backend = name;
          r.verdict = Verdict::skipped;
          r.message = why;
          rows.push_back(ident(r, want));
          continue;
        }
        const Problem p = study::point_problem(sw, i, k);
        if (estimated_case_bytes(p) > 0.8 * available_memory_bytes()) {
          for (Backend* b : backends) {
            study::Row r;
            r.backend = b->name();
            r.problem = to_string(p);
            r.verdict = Verdict::skipped;
            r.message = "does not fit in memory";
            rows.push_back(ident(r, p));
          }
          continue;
        }
        CaseRunner r(p);
        for (Backend* b : backends) rows.push_back(ident(study::measure(r, *b), p));
      }
  }
  progress.clear();
  const std::vector<study::Fit> fits = study::fit(spec, rows, names);
  const std::vector<study::Outcome> outcomes = study::judge(spec, fits);

  std::printf("bncheck study: %s\n", spec.title.c_str());
  int measured = 0;
  for (const auto& r : rows)
    measured += r.verdict == Verdict::pass || r.verdict == Verdict::fail || r.verdict == Verdict::mistrusted;
  std::printf("%d of %zu measurements (%zu points x %d seeds x %zu backends%s) in %.1f s\n", measured, rows.size(),
              total / static_cast<size_t>(spec.seeds), spec.seeds, names.size(),
              shards > 1      ? (", shard " + spec.shard).c_str()
              : merge.empty() ? ""
                              : (", merged from " + std::to_string(merge.size()) + " files").c_str(),
              fuzz::now_seconds() - t0);
  for (size_t s = 0; s < spec.sweeps.size(); ++s) {
    const study::Sweep& sw = spec.sweeps[s];
    std::printf("\nsweep %zu: %s of %s, base %s\n", s, study::to_string(sw.param), sw.fit_output.c_str(),
                to_string(sw.base).c_str());
    if (sw.param == study::Param::dtype) continue;
    std::printf("  %-22s %9s %7s %21s %8s %8s %8s\n", "backend", "floor", "growth", "its x range", "exponent", "floor",
                "all");
    for (const auto& f : fits) {
      if (f.sweep != s) continue;
      std::printf("  %-22s %9.3g %7d %10.3g-%-10.3g %8.3f %8.3f %8.3f\n", f.backend.c_str(), f.floor, f.points, f.x_lo,
                  f.x_hi, f.slope, f.slope_floor, f.slope_all);
    }
  }
  bool disagree = false;
  if (!outcomes.empty()) std::printf("\nagainst the literature:\n");
  for (const auto& o : outcomes) {
    std::printf("  sweep %zu %-20s %-10s want %g +- %g, measured %.3f: %s (%s)\n", o.e->sweep, o.e->backend.c_str(),
                o.e->which.c_str(), o.e->want, o.e->tolerance, o.measured,
                !o.measured_at_all ? "not measured"
                : o.agrees         ? "agrees"
                                   : "DISAGREES",
                o.e->why.c_str());
    disagree |= o.measured_at_all && !o.agrees;
  }
  if (!out.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(out, ec);
    write_file(out + "/study.csv", study::csv(spec, rows));
    write_file(out + "/study.json", study::json(spec, rows, fits, outcomes));
    write_file(out + "/study.html", study::html(spec, rows, fits, outcomes, names));
    for (size_t s = 0; s < spec.sweeps.size(); ++s)
      write_file(out + "/sweep" + std::to_string(s) + ".svg", study::svg_sweep(spec, s, rows, fits, names));
    for (const auto& n : names) write_file(out + "/histogram_" + n + ".svg", study::svg_histogram(rows, n));
    std::printf("\nwrote %s/study.{csv,json,html}, sweep*.svg, histogram_*.svg\n", printable(out).c_str());
  }
  if (measured == 0) {
    std::printf("nothing was measured: every case was unsupported, skipped or unavailable (exit %d)\n",
                kExitNothingChecked);
    return kExitNothingChecked;
  }
  return disagree && strict ? kExitFail : kExitOk;
}

}  // namespace bncheck::cli
