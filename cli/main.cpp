// bncheck: is a batch-normalization implementation numerically right, and by how much
// not. One file per command (cli/cmd_*.cpp), shared parts in cli/common.*, typed
// options in cli/options.*.
#include <malloc.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "api/text.hpp"
#include "cli/common.hpp"
#include "reference/reference.hpp"

namespace bncheck::cli {

const char* const kUsage = R"(usage: bncheck <command> [options]

Commands:
  list                 the backends compiled in, whether each is available, what it supports
  run                  check backends against the arbitrary-precision reference
  gen                  write cases as files (.npy inputs, problem.json) for code in any language
  check                judge the outputs such code wrote for `gen`'s cases, as run judges a backend
  props                property tests of BN's invariants (RapidCheck generators, shrinking)
  fuzz                 fuzz campaigns: generated shapes and data, minimised failures
  bench                time backends side by side against a copy bandwidth
  report               merge the JSON reports of runs or of a fuzz campaign's shards
  compare              a report against a stored one: new failures, fixed ones, accuracy regressions
  study                precision studies: error against kappa, M, eps or dtype, fitted exponents, plots
  help                 this text

bncheck run [options]
  --backend NAME[,NAME...]|all   backends to check [all]; 'all' leaves out weak
                                 baselines (cpu_one_pass_naive), which run only when named
  --plugin PATH.so               load a C plugin (include/bncheck/plugin.h) as a backend
                                 (repeatable; also for `list`)
  --timeout SECONDS              a plugin call running longer is killed: TIMEOUT [60]
  --no-isolation                 call plugins in-process (debugging: a crash kills bncheck;
                                 --timeout cannot be honoured and is refused)
  --problem DESC                 a problem (repeatable); see PROBLEM DESCRIPTORS below
  --suite NAME|FILE              a built-in suite or a file of descriptors [default]
  --case DIR                     rerun a saved case on its own data (a directory written by
                                 --save/--save-failures or the libFuzzer target; repeatable);
                                 without --backend, on the backend it was saved for
  --seed N                       seed of problems that do not set seed= [1]
  --save DIR                     save every case: inputs, reference, outputs as .npy + case.json
  --save-failures DIR            save the cases that did not pass
  --json FILE                    write every case's result as JSON
  --junit FILE                   write the run as JUnit XML (failures with repro lines; known,
                                 unsupported and mistrusted cases as skipped)
  --max-memory GIB               skip cases whose data would need more [80% of available]
  --verbose                      print every tensor's errors, not only failures'
  --quiet                        no live progress line (shown only when stdout is a terminal:
                                 cases done, failures so far, cases/s, time left)
  --baseline FILE                known failures (BACKEND DESCRIPTOR FINDING per line) reported as
                                 KNOWN without failing the run [inputs/baselines/known-failures.baseline]
  --no-baseline                  no known failures
  --strict                       known failures, and listed failures that now pass, fail the run
  --threads N                    threads of the reference's fast path (also for props, fuzz);
                                 the same results for any N [every core]
  --reference fast|slow          the reference's path (also for props, fuzz): fast = exact sums,
                                 double-double outputs kept where a rounding test proves them,
                                 256 bits elsewhere; slow = 256 bits throughout, the oracle;
                                 the same rounded outputs either way [fast]

bncheck gen --out DIR (--problem DESC... | --suite NAME|FILE) [options]
  --problem DESC, --suite NAME|FILE, --seed N    the cases, as for run; one problem: DIR is
                                 the case; several: DIR/case0001, DIR/case0002, ...
  --conventions LIST             the conventions the implementation follows, for every case
                                 (rvar=unbiased|biased, momdir=new|old, save=invstd|var,
                                 running=kept|none, zero_var_invstd=inf|0, eps=double|float,
                                 m1_rvar=nan|biased) [the descriptor's, else PyTorch's]
  Each case directory holds its inputs (x.npy, ...) and problem.json: the descriptor, shape,
  layout, dtypes, eps, momentum, conventions, and the output files to write (out_y.npy, ...).

bncheck check DIR [options]
  DIR                            a case written by gen, or a directory of them
  --conventions LIST             judge under these conventions instead of the generated ones
                                 (a backward's saved statistic cannot change)
  --numerics LIST                how the implementation computes, for the error budget:
                                 acc=BITS,compute=BITS (significand bits: 24 float, 53 double,
                                 11 half), stats=two_pass|welford|one_pass, sum_based, folded,
                                 ftz, fast_math, nondeterministic [the data's precision, at
                                 least float's]
  --name NAME                    the implementation's name in reports [file]
  --json FILE, --junit FILE, --save DIR, --save-failures DIR, --max-memory GIB, --verbose,
  --quiet                        as for run; every failure prints a `bncheck check` repro line

bncheck props [options]
  --backend NAME[,NAME...]|all   backends; 'reference' checks the reference itself;
                                 all = the reference and every non-weak backend [all]
  --property NAME[,NAME...]      properties to run [all of them; `bncheck props --list`]
  --cases N                      generated cases per property and backend [50]
  --seed N                       campaign seed [1]
  --problem DESC --aux N         replay one case (as a failure's repro line prints it)
  --baseline FILE, --no-baseline, --strict        known failures, as for run
  --plugin PATH.so, --timeout S, --no-isolation   as for run
  --json FILE, --junit FILE      every property campaign as JSON, as JUnit XML (one testcase
                                 per property and backend)

bncheck fuzz [options]
  --backend NAME[,NAME...]|all   backends [all: every non-weak backend]
  --cases N | --seconds S        run cases 0..N-1, or for S seconds of wall time, minimising
                                 included (a minimisation cut short says so) [--cases 200]
  --seed N                       campaign seed: case i is a function of (seed, i) [1]
  --dir D[,D...], --dt T[,T...], --layout L[,L...]
                                 draw only these directions, data dtypes (parameters f32, f64
                                 for f64 data) and layouts; minimisation keeps to them
  --shard I/N                    run the cases i with i % N == I (shards partition the campaign)
  --max-elements N               larger draws are shrunk to fit [2097152]
  --splits auto|on|off           run a third of the forward-training draws with N >= 2 as
                                 distributed BN (split=: local statistics per rank, a merge;
                                 backends without split statistics run the case whole) [auto:
                                 when a chosen backend has split statistics]
  --max-memory GIB               skip a case whose data would need more [80% of available]
  --save-failures DIR            save each minimised failure (.npy + case.json)
  --append-regressions FILE      append minimised unknown failures (descriptor + repro) to FILE
  --dry-run                      print the cases' descriptors, run nothing (needs --cases)
  --json FILE, --junit FILE      every case's result (with its case number; failures with their
                                 minimised problem) as JSON, as JUnit XML
  --quiet                        no progress lines (on a terminal a live line, else one every 10 s)
  --plugin, --timeout, --no-isolation, --baseline, --no-baseline, --strict   as for run

bncheck bench [options]
  --backend NAME[,NAME...]|all   backends side by side [all]
  --problem DESC | --suite NAME  what to time [suite bench]
  --warmup N, --reps N           calls before timing, timed calls [3, 15]
  --json FILE                    every timed call's seconds, per backend and problem (for compare)
  Reports the median time per call, the minimal bytes moved (read x [and dy], write y
  or dx), GB/s, and the fraction of a copy bandwidth measured in the same run: a
  STREAM-like memcpy for host backends, a device-to-device copy for GPU backends,
  whose time excludes host transfers.

bncheck report FILE.json... [--json FILE] [--junit FILE]
  Merges JSON reports of `run` or `fuzz`: the shards of one campaign (checked to be one
  campaign's shards 0..N-1, each case in its own shard) or runs split by backend; prints
  the verdicts per backend and the unknown failures, writes the merged JSON and JUnit.

bncheck compare BASE.json NEW.json [--factor F] [--speed-threshold R]
  Case by case (backend and problem; a campaign's case number): new failures, fixed
  failures, and accuracy regressions: a tensor whose err/budget grew by more than F [2]
  (errors under 1/64 of the budget are not compared). Two `bench --json` reports: a
  median time slower by more than R [0.5] or 4 times the samples' spread (interquartile
  range / median), whichever is larger; a timing too noisy to see a 2x change is said.
  Exit 1 on a new failure or a regression, 3 when nothing is in both.

bncheck study --preset NAME | --sweep PARAM=VALUES [options]
  --preset variance-algorithms|dtype-ladder|eps
                                 variance-algorithms: one-pass, two-pass and Welford variance
                                 in f32 over kappa 1..1e8 and M 1e2..1e7, checked against Chan,
                                 Golub & LeVeque (1983); dtype-ladder: f64/f32/bf16/f16 data;
                                 eps: eps 0..1 at a tiny variance
  --sweep PARAM=V1,V2,...|PARAM=FROM:TO:COUNT
                                 kappa, m, eps (log-spaced FROM:TO:COUNT) or dtype (names)
  --problem DESC                 the base problem of a --sweep [n=100,c=1,sp=100,dt=f32,pdt=f64,save=var]
  --fit OUTPUT                   the output whose largest relative error is plotted and fitted
                                 (y, save_mean, save_stat, running_mean, running_var, dx, ...)
  --backend NAME[,NAME...]       [the preset's, else all]; --plugin etc. as for run
  --seeds N                      cases a point [3]
  --out DIR                      study.csv, study.json, study.html (self-contained, SVG plots),
                                 sweep*.svg, histogram_*.svg
  --gen DIR | --check DIR [--name NAME]
                                 write the study's cases as files (as gen does), or study the
                                 outputs an implementation in any language wrote for them
  --shard I/N                    measure the points p with p % N == I (of every sweep, in order)
  --merge FILE.json              (repeated) the shards' study.json, with the same --preset or
                                 --sweep/--problem/--fit: fits, plots and reports of them all
  --strict                       exit 1 when a measured exponent disagrees with the preset's
                                 expectation (the literature's); 3 when nothing was measured

Verdicts: PASS, FAIL, MISTRUSTED (degenerate outputs: the check proves little),
UNSUPPORTED (never a pass), ERROR (the backend reported an error), UNWRITTEN-OUTPUT,
OUT-OF-BOUNDS-WRITE, SKIPPED (not run, e.g. too large), UNAVAILABLE.
Exit status: 0 when cases were checked and none failed; 1 when one failed (FAIL, ERROR,
UNWRITTEN-OUTPUT, OUT-OF-BOUNDS-WRITE, CRASH, TIMEOUT); 2 for a usage or input error;
3 when nothing was checked (every case UNSUPPORTED, SKIPPED or UNAVAILABLE, or none at
all); 130 or 143 when interrupted by SIGINT or SIGTERM (the results so far are printed
and written, the JSON marked "complete": false). `bncheck COMMAND --help` prints this.
Errors are reported in ULPs of the output dtype and as a ratio to the error budget of
docs/error-model.md (ratio <= 1 passes).

)";

}  // namespace bncheck::cli

using namespace bncheck;
using namespace bncheck::cli;

int main(int argc, char** argv) {
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) words.emplace_back(argv[i]);
  const std::string argv0 = argc > 0 ? argv[0] : "bncheck";
  if (words.empty()) {
    std::fputs(kUsage, stderr);
    std::fputs(kDescriptorHelp, stderr);
    return kExitUsage;
  }
  // Freed case tensors stay with the process: each case's fresh pages would otherwise
  // cost a page fault apiece (the reference's outputs alone are 24 bytes per element).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  const std::string cmd = words.front();
  // --reference fast|slow: for every command that computes references.
  for (size_t i = 1; i < words.size(); ++i) {
    if (words[i] != "--reference") continue;
    const std::string v = i + 1 < words.size() ? words[i + 1] : "";
    if (v != "fast" && v != "slow") {
      std::fprintf(stderr, "bncheck: --reference takes fast or slow, not '%s'\n", printable(v, 60).c_str());
      return kExitUsage;
    }
    set_reference_mode(v == "slow" ? ReferenceMode::slow : ReferenceMode::fast);
    words.erase(words.begin() + static_cast<std::ptrdiff_t>(i), words.begin() + static_cast<std::ptrdiff_t>(i) + 2);
    --i;
  }
  // --threads N: the reference's fast path.
  for (size_t i = 1; i < words.size(); ++i) {
    if (words[i] != "--threads") continue;
    const std::string v = i + 1 < words.size() ? words[i + 1] : "";
    const bool digits = !v.empty() && v.size() <= 4 && v.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || std::stoi(v) < 1) {
      std::fprintf(stderr, "bncheck: --threads takes a count from 1 to 9999, not '%s'\n", printable(v, 60).c_str());
      return kExitUsage;
    }
    set_reference_threads(std::stoi(v));
    words.erase(words.begin() + static_cast<std::ptrdiff_t>(i), words.begin() + static_cast<std::ptrdiff_t>(i) + 2);
    --i;
  }
  Args a(std::vector<std::string>(words.begin() + 1, words.end()));
  const bool help = cmd == "help" || cmd == "--help" || cmd == "-h" ||
                    std::find_if(words.begin() + 1, words.end(),
                                 [](const std::string& w) { return w == "--help" || w == "-h"; }) != words.end();
  try {
    if (help) {
      std::fputs(kUsage, stdout);
      std::fputs(kDescriptorHelp, stdout);
      return kExitOk;
    }
    if (cmd == "list") return cmd_list(a);
    if (cmd == "run") return cmd_run(a, argv0);
    if (cmd == "gen") return cmd_gen(a);
    if (cmd == "check") return cmd_check(a, argv0);
    if (cmd == "props") return cmd_props(a, argv0);
    if (cmd == "fuzz") return cmd_fuzz(a, argv0);
    if (cmd == "bench") return cmd_bench(a);
    if (cmd == "report") return cmd_report(a);
    if (cmd == "compare") return cmd_compare(a);
    if (cmd == "study") return cmd_study(a);
    throw UsageError("unknown command '" + printable(cmd, 60) + "'");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "bncheck: %s\n(`bncheck help` lists the commands, options and the descriptor format)\n",
                 e.what());
    return kExitUsage;
  } catch (const DescriptorError& e) {
    std::fprintf(stderr, "bncheck: %s\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bncheck: internal error: %s\n", printable(e.what()).c_str());
    return kExitFail;
  }
}
