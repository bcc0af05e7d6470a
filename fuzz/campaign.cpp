#include "fuzz/campaign.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "harness/case_files.hpp"
#include "harness/interrupt.hpp"
#include "harness/rng.hpp"
#include "harness/runner.hpp"
#include "harness/split.hpp"

namespace bncheck::fuzz {

namespace {

double now_s() { return now_seconds(); }

// Runs b on p; a failure verdict or an exception counts as failing.
bool fails(Backend& b, const Problem& p, std::string* message, Verdict* v = nullptr) {
  try {
    CaseRunner r(p);
    const CaseReport rep = r.run(b);
    if (v) *v = rep.verdict;
    if (message) *message = rep.message;
    return is_failure(rep.verdict);
  } catch (const std::exception& e) {
    if (message) *message = e.what();
    return false;  // a problem the harness cannot build is no smaller failure
  }
}

std::vector<Problem> simpler(const Problem& p) {
  std::vector<Problem> v;
  auto add = [&](Problem q) {
    if (q.poison.channel >= q.c) q.poison.channel = q.c - 1;
    fit_split(q);
    if (!(q == p)) v.push_back(q);
  };
  // Shape first: fewer elements.
  if (p.n > 1) {
    Problem q = p;
    q.n = 1;
    add(q);
    q.n = p.n / 2;
    add(q);
    q.n = p.n - 1;
    add(q);
  }
  for (int d = 0; d < p.rank; ++d)
    if (p.spatial[d] > 1) {
      Problem q = p;
      q.spatial[d] = 1;
      add(q);
      q.spatial[d] = p.spatial[d] / 2;
      add(q);
      q.spatial[d] = p.spatial[d] - 1;
      add(q);
    }
  if (p.rank > 0 && p.spatial[p.rank - 1] == 1) {
    Problem q = p;
    --q.rank;
    add(q);
  }
  if (p.c > 1) {
    Problem q = p;
    q.c = 1;
    add(q);
    q.c = p.c / 2;
    add(q);
    q.c = p.c - 1;
    add(q);
  }
  // Fewer ranks: none, no empty ones, or the last two merged.
  if (!p.split.empty()) {
    Problem q = p;
    q.split.clear();
    add(q);
    q = p;
    q.split.erase(std::remove(q.split.begin(), q.split.end(), 0), q.split.end());
    if (!q.split.empty()) add(q);
    if (p.split.size() > 1) {
      q = p;
      q.split[q.split.size() - 2] += q.split.back();
      q.split.pop_back();
      add(q);
    }
  }
  // Then simpler data and settings.
  {
    Problem q = p;
    q.layout = Layout::channels_first;
    add(q);
  }
  {
    Problem q = p;
    q.poison = {};
    add(q);
  }
  if (p.fill.kind != FillKind::normal || p.fill.mean != 0 || p.fill.spread != 1) {
    Problem q = p;
    if (p.fill.kind == FillKind::normal && std::fabs(p.fill.mean) > 10 * p.fill.spread) {
      q.fill.mean = p.fill.mean / 10;  // the least ill-conditioning that still fails
      add(q);
    }
    q = p;
    q.fill = Fill{};
    add(q);
  }
  {
    Problem q = p;
    q.eps = 1e-5;
    add(q);
  }
  {
    Problem q = p;
    q.momentum = 0.1;
    add(q);
  }
  {
    Problem q = p;
    q.affine = true;
    add(q);
  }
  {
    Problem q = p;
    q.conv = Conventions{};
    add(q);
  }
  if (p.dtype != Dtype::f32 || p.pdtype != Dtype::f32) {
    Problem q = p;
    q.dtype = q.pdtype = Dtype::f32;
    add(q);
  }
  return v;
}

template <class T>
T pick(const std::vector<T>& allowed, T drawn, uint64_t i) {
  if (allowed.empty() || std::find(allowed.begin(), allowed.end(), drawn) != allowed.end()) return drawn;
  return allowed[static_cast<size_t>(splitmix64(i ^ 0x5f11e7ull) % allowed.size())];
}

}  // namespace

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Problem Filter::apply(Problem p, uint64_t i) const {
  p.dir = pick(dirs, p.dir, i);
  p.layout = pick(layouts, p.layout, i);
  if (!dtypes.empty()) {  // the data dtypes asked for, with f32 parameters (f64 ones for f64 data)
    p.dtype = pick(dtypes, p.dtype, i);
    p.pdtype = p.dtype == Dtype::f64 ? Dtype::f64 : Dtype::f32;
  }
  fit_split(p);
  return p;
}

Problem minimize(Backend& b, const Problem& p, int budget, int* steps, std::string* message, const Filter& filter,
                 double deadline_s, bool* cut) {
  Problem cur = p;
  int evals = 0;
  *steps = 0;
  if (cut) *cut = false;
  for (bool progress = true; progress && evals < budget;) {
    progress = false;
    for (Problem q : simpler(cur)) {
      if (++evals > budget || interrupted()) break;
      if (deadline_s >= 0 && now_s() >= deadline_s) {
        if (cut) *cut = true;
        return cur;
      }
      q = filter.apply(q, 0);
      if (q == cur) continue;
      std::string m;
      if (fails(b, q, &m)) {
        cur = q;
        *message = m;
        ++*steps;
        progress = true;
        break;
      }
    }
  }
  return cur;
}

std::vector<uint64_t> case_indices(const Options& o) {
  std::vector<uint64_t> v;
  for (int64_t i = 0; i < o.cases; ++i)
    if (static_cast<int>(i % o.shards) == o.shard) v.push_back(static_cast<uint64_t>(i));
  return v;
}

Summary run_campaign(const Options& o, const std::vector<Backend*>& backends, Baseline& baseline, std::FILE* out) {
  Summary s;
  const double t0 = now_s();
  double last_line = t0;
  auto progress = [&](bool final) {
    if (o.quiet) return;
    int64_t fails = 0;
    for (const auto& f : s.failures) fails += f.known.empty();
    const double el = now_s() - t0;
    char line[256];
    std::snprintf(line, sizeof line, "fuzz: %lld cases, %.1f cases/s, %lld failures, %lld known, %lld skipped, %.0f s",
                  static_cast<long long>(s.cases), el > 0 ? s.cases / el : 0.0, static_cast<long long>(fails),
                  static_cast<long long>(s.failures.size() - fails), static_cast<long long>(s.skipped), el);
    if (o.progress_tty)
      std::fprintf(out, "\r%s%s", line, final ? "\n" : "");
    else
      std::fprintf(out, "%s\n", line);
    std::fflush(out);
  };
  std::map<std::pair<std::string, std::string>, bool> reported;  // (backend, minimal) already reported
  auto draw = [&](uint64_t i) { return o.filter.apply(generate(o.seed, i, o.limits), i); };
  auto need_of = [&](const Problem& p) { return estimated_case_bytes(p, distinct_conventions(backends, p)); };
  // The next kAhead cases, each prepared on a thread of its own while this case runs
  // (pure functions of the problem: the same cases, sooner), when they all fit in memory
  // with this one: its data, with this thread's help once it comes for the case; then,
  // by whichever thread claims it first, the runner, and on the case's own thread also
  // the references under the conventions the backends declare and the budgets of the
  // backends that run it. One ahead: two measured no faster.
  constexpr size_t kAhead = 1;
  struct Next {
    uint64_t i = 0;
    double need = 0;
    Problem p;
    std::shared_ptr<CaseDataBuilder> data;
    std::shared_ptr<std::atomic<bool>> claimed;
    std::shared_ptr<std::unique_ptr<CaseRunner>> runner;  // made by the second thread when it claims
    std::future<void> preparing;
  };
  std::deque<Next> ahead;  // in the order of the cases
  for (uint64_t i = static_cast<uint64_t>(o.shard);; i += static_cast<uint64_t>(o.shards)) {
    if (o.cases >= 0 && static_cast<int64_t>(i) >= o.cases) break;
    if (o.seconds >= 0 && now_s() - t0 >= o.seconds) break;
    if (interrupted()) break;
    std::optional<Next> ready;
    if (!ahead.empty() && ahead.front().i == i) {
      ready = std::move(ahead.front());
      ahead.pop_front();
    } else {
      ahead.clear();
    }
    const Problem drawn = ready ? ready->p : draw(i);
    ++s.cases;
    const double need = need_of(drawn);
    if (o.max_bytes > 0 && need > o.max_bytes) {
      ++s.skipped;
      std::fprintf(out, "%scase %llu skipped: needs ~%.2f GiB (> the memory allowed)\n", o.progress_tty ? "\n" : "",
                   static_cast<unsigned long long>(i), need / double(1ull << 30));
      continue;
    }
    double held = need;  // the memory of this case and of those prepared
    for (const Next& n : ahead) held += n.need;
    for (uint64_t ni = (ahead.empty() ? i : ahead.back().i) + static_cast<uint64_t>(o.shards);
         ahead.size() < kAhead && (o.cases < 0 || static_cast<int64_t>(ni) < o.cases);
         ni += static_cast<uint64_t>(o.shards)) {
      Problem np = draw(ni);
      const double nneed = need_of(np);
      if (o.max_bytes > 0 && held + nneed > o.max_bytes) break;
      try {
        auto b = std::make_shared<CaseDataBuilder>(np);
        auto claimed = std::make_shared<std::atomic<bool>>(false);
        auto r = std::make_shared<std::unique_ptr<CaseRunner>>();
        std::vector<Conventions> convs;                     // asked here: a backend is called from this thread only
        std::vector<std::pair<Problem, Numerics>> budgets;  // those of the backends that run the case as drawn
        for (const Backend* be : backends) {
          Problem bp = np;
          bp.conv = be->conventions(np);
          if (std::find(convs.begin(), convs.end(), bp.conv) == convs.end()) convs.push_back(bp.conv);
          if (!np.split.empty() && be->split_kind() == SplitKind::none) continue;
          const Numerics nx = case_numerics(*be, bp);
          if (std::none_of(budgets.begin(), budgets.end(),
                           [&](const auto& e) { return e.first.conv == bp.conv && e.second == nx; }))
            budgets.emplace_back(bp, nx);
        }
        std::future<void> f = std::async(std::launch::async, [b, claimed, r, np, convs, budgets] {
          // A large case's data on two threads: otherwise it is the one thread at work
          // while the others wait for it.
          std::thread helper;
          try {
            if (np.elements() >= (int64_t{1} << 18)) helper = std::thread([b] { b->work(); });
          } catch (const std::system_error&) {  // no thread to spare: this one fills it alone
          }
          b->work();
          if (helper.joinable()) helper.join();
          if (claimed->exchange(true)) return;  // this thread came for it first
          *r = std::make_unique<CaseRunner>(np, b->take());
          for (const Conventions& cv : convs) (void)(*r)->impl().reference(cv);
          for (const auto& [bp, nx] : budgets) (*r)->impl().prepare_budget(bp, nx);
        });
        ahead.push_back(Next{ni, nneed, std::move(np), std::move(b), std::move(claimed), std::move(r), std::move(f)});
        held += nneed;
      } catch (const std::system_error&) {  // no thread to spare: the cases generate their own
        break;
      } catch (const std::bad_alloc&) {  // no memory for more: likewise (and are skipped if it still fails)
        break;
      }
    }
    std::unique_ptr<CaseRunner> runner;
    try {
      if (ready) {
        ready->data->work();  // what the prefetch has not done yet, with this thread too
        if (!ready->claimed->exchange(true)) {
          runner = std::make_unique<CaseRunner>(drawn, ready->data->take());
          ready->preparing.get();
        } else {
          ready->preparing.get();
          runner = std::move(*ready->runner);
        }
      } else {
        runner = std::make_unique<CaseRunner>(drawn);
      }
    } catch (const std::bad_alloc&) {
      ++s.skipped;
      continue;
    }
    // A backend without split statistics runs a split case whole, on the same data.
    Problem whole = drawn;
    whole.split.clear();
    std::unique_ptr<CaseRunner> whole_runner;
    for (Backend* b : backends) {
      const bool as_whole = !drawn.split.empty() && b->split_kind() == SplitKind::none;
      if (as_whole && !whole_runner) whole_runner = std::make_unique<CaseRunner>(whole, runner->data());
      const Problem& p = as_whole ? whole : drawn;
      const CaseReport rep = (as_whole ? whole_runner : runner)->run(*b);
      if (interrupted()) break;  // the call in flight was cut short: no verdict
      ++s.verdicts[b->name()][rep.verdict];
      if (!is_failure(rep.verdict)) {
        if (o.keep_results) s.results.push_back({rep, repro_line(o.argv0, *b, p), "", static_cast<int64_t>(i), ""});
        continue;
      }
      Failure f;
      f.backend = b->name();
      f.original = p;
      f.verdict = rep.verdict;
      f.message = rep.message;
      // Minimisation gets its share of the time bound, never past the end.
      double deadline = -1;
      if (o.seconds >= 0) deadline = std::min(t0 + o.seconds, now_s() + o.minimize_share * o.seconds);
      f.minimal =
          minimize(*b, p, o.minimize_budget, &f.minimize_steps, &f.message, o.filter, deadline, &f.minimize_cut);
      const Baseline::Entry* be = baseline.find(f.backend, f.minimal);
      if (!be) be = baseline.find(f.backend, p);
      if (be) f.known = be->finding;
      f.repro = repro_line(o.argv0, *b, f.minimal);
      const auto key = std::make_pair(f.backend, to_string(f.minimal));
      const bool dup = reported.count(key) > 0;
      reported[key] = true;
      if (!dup) {
        std::fprintf(out, "%s%s %s on case %llu%s: %s\n  original: %s\n  minimal (%d steps%s): %s\n  repro: %s\n",
                     o.progress_tty ? "\n" : "", to_string(f.verdict), f.backend.c_str(),
                     static_cast<unsigned long long>(i), f.known.empty() ? "" : (" (known: " + f.known + ")").c_str(),
                     f.message.c_str(), to_string(p).c_str(), f.minimize_steps,
                     f.minimize_cut ? ", cut short by the time bound" : "", to_string(f.minimal).c_str(),
                     f.repro.c_str());
        if (!o.save_failures.empty()) {
          CaseRunner mr(f.minimal);
          CaseOutputs outs;
          const CaseReport mrep = mr.run(*b, &outs);
          // Named by seed and case: concurrent campaigns in one directory never mix.
          const std::string stem = "seed" + std::to_string(o.seed) + "_case" + std::to_string(i) + "_" + f.backend;
          const auto saved = save_case(o.save_failures, stem, mr, mrep, outs, f.repro);
          std::fprintf(out, "  saved: %s\n", saved ? printable(*saved).c_str() : saved.error().c_str());
        }
        if (!o.append_regressions.empty() && f.known.empty()) {
          std::ofstream reg(o.append_regressions, std::ios::app);
          reg << "# " << to_string(f.verdict) << " " << f.backend << ", found by `bncheck fuzz --seed " << o.seed
              << "` (case " << i << "): " << f.message << "\n# repro: " << f.repro << "\n"
              << to_string(f.minimal) << "\n";
        }
      }
      if (o.keep_results) {
        CaseReport kept = rep;
        if (f.minimize_cut) kept.message += " [minimisation cut short by the time bound]";
        s.results.push_back({kept, f.repro, f.known, static_cast<int64_t>(i), to_string(f.minimal)});
      }
      s.failures.push_back(f);
    }
    if (now_s() - last_line >= (o.progress_tty ? 0.2 : 10)) {
      progress(false);
      last_line = now_s();
    }
  }
  s.seconds = now_s() - t0;
  progress(true);
  return s;
}

}  // namespace bncheck::fuzz
