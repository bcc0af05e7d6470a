// Google Benchmark over every available backend and the problems of a suite (default
// `bench`), beside a memcpy of the same bytes in the same run:
//   build/bncheck_gbench [--benchmark_filter=...] [suite-name]
// With the suite reference-bench: the reference's fast and slow paths beside a plain
// double two-pass batch norm over the same data (items_per_second: elements).
// Host backends are timed per call on resident buffers; device backends report their
// kernel time (time_on_device) as manual time. bytes_per_second counts the minimal
// traffic: read x (and dy), write y (or dx).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "bncheck/backend.hpp"
#include "harness/runner.hpp"
#include "harness/suites.hpp"
#include "reference/reference.hpp"

using namespace bncheck;

namespace {

double moved_bytes(const Problem& p) {
  return (p.dir == Direction::bwd ? 3.0 : 2.0) * static_cast<double>(p.elements()) * format_info(p.dtype).bytes;
}

void host_call(benchmark::State& st, Backend* b, const Problem& p) {
  CaseRunner runner(p);
  const CaseData& d = runner.impl().data_for(b->conventions(p));
  Problem bp = p;
  bp.conv = b->conventions(p);
  const size_t E = static_cast<size_t>(p.elements()), C = static_cast<size_t>(p.c);
  Tensor y(p.dtype, E), m(p.pdtype, C), s(p.pdtype, C), dg(p.pdtype, C), db(p.pdtype, C);
  Tensor rm = d.running_mean, rv = d.running_var;
  for (auto _ : st) {
    Status r;
    if (p.dir == Direction::fwd_train)
      r = b->forward_training(
          bp, {d.x.data(), d.gamma.data(), d.beta.data(), y.data(), m.data(), s.data(), rm.data(), rv.data()});
    else if (p.dir == Direction::fwd_infer)
      r = b->forward_inference(
          bp, {d.x.data(), d.gamma.data(), d.beta.data(), d.running_mean.data(), d.running_var.data(), y.data()});
    else
      r = b->backward(bp, {d.x.data(), d.dy.data(), d.gamma.data(), d.save_mean.data(), d.save_stat.data(), y.data(),
                           p.affine ? dg.data() : nullptr, p.affine ? db.data() : nullptr});
    if (!r.ok()) {
      st.SkipWithError(r.message.c_str());
      break;
    }
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * moved_bytes(p)));
}

void device_call(benchmark::State& st, Backend* b, const Problem& p) {
  for (auto _ : st) {
    const auto t = b->time_on_device(p, 1, 5);
    if (!t) {
      st.SkipWithError("device timing failed");
      break;
    }
    st.SetIterationTime(t->seconds_per_call);
    st.counters["copy_GBps"] = t->copy_gbps;
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * moved_bytes(p)));
}

void host_copy(benchmark::State& st, size_t bytes) {
  std::vector<unsigned char> a(bytes, 1), c(bytes);
  for (auto _ : st) {
    std::memcpy(c.data(), a.data(), bytes);
    benchmark::DoNotOptimize(c.data());
  }
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * 2 * bytes));  // read + write
}

// The reference (fast or slow path) on one case.
void reference_call(benchmark::State& st, const Problem& p, bool fast, int threads) {
  CaseRunner runner(p);
  const CaseData& d = runner.impl().data_for(p.conv);
  set_reference_threads(threads);
  for (auto _ : st) {
    Reference r = fast ? compute_reference_fast(p, p.conv, d) : compute_reference(p, p.conv, d);
    benchmark::DoNotOptimize(r.channel.data());
    st.counters["slow_elements"] = static_cast<double>(r.path.elements_slow);
  }
  set_reference_threads(0);
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * p.elements()));
}

// A plain double two-pass batch norm over the same data (decoded to double beforehand):
// the speed the reference is measured against.
void double_two_pass(benchmark::State& st, const Problem& p) {
  CaseRunner runner(p);
  const CaseData& d = runner.impl().data_for(p.conv);
  const size_t E = static_cast<size_t>(p.elements());
  std::vector<double> x(E), dy(E), out(E);
  for (size_t i = 0; i < E; ++i) {
    x[i] = d.x.get(i);
    if (p.dir == Direction::bwd) dy[i] = d.dy.get(i);
  }
  const int64_t N = p.n, S = p.spatial_size();
  const double M = static_cast<double>(p.reduction_size());
  for (auto _ : st) {
    for (int64_t c = 0; c < p.c; ++c) {
      double sum = 0, q = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) sum += x[static_cast<size_t>(p.index(n, c, s))];
      const double mean = sum / M;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) {
          const double v = x[static_cast<size_t>(p.index(n, c, s))] - mean;
          q += v * v;
        }
      const double r = 1 / std::sqrt(q / M + p.eps), g = p.affine ? d.gamma.get(c) : 1.0;
      if (p.dir == Direction::bwd) {
        double db = 0, dg = 0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t s = 0; s < S; ++s) {
            const size_t i = static_cast<size_t>(p.index(n, c, s));
            db += dy[i];
            dg += dy[i] * (x[i] - mean) * r;
          }
        for (int64_t n = 0; n < N; ++n)
          for (int64_t s = 0; s < S; ++s) {
            const size_t i = static_cast<size_t>(p.index(n, c, s));
            out[i] = g * r / M * (M * dy[i] - db - (x[i] - mean) * r * dg);
          }
      } else {
        const double b = p.affine ? d.beta.get(c) : 0.0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t s = 0; s < S; ++s) {
            const size_t i = static_cast<size_t>(p.index(n, c, s));
            out[i] = g * (x[i] - mean) * r + b;
          }
      }
    }
    benchmark::DoNotOptimize(out.data());
  }
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations() * p.elements()));
}

}  // namespace

int main(int argc, char** argv) {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  benchmark::Initialize(&argc, argv);
  const std::string suite = argc > 1 ? argv[1] : "bench";
  if (suite == "reference-bench") {  // the reference's speed against plain double BN
    for (const Problem& p : load_suite(suite, 1)) {
      const std::string desc = to_string(p);
      benchmark::RegisterBenchmark(("double_two_pass/" + desc).c_str(), double_two_pass, p);
      benchmark::RegisterBenchmark(("reference_fast/" + desc).c_str(), reference_call, p, true, 1);
      if (reference_threads() > 1)
        benchmark::RegisterBenchmark(
            ("reference_fast_threads_" + std::to_string(reference_threads()) + "/" + desc).c_str(), reference_call, p,
            true, reference_threads());
      if (p.elements() <= (int64_t{1} << 21))
        benchmark::RegisterBenchmark(("reference_slow/" + desc).c_str(), reference_call, p, false, 1);
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
  }
  static auto backends = make_builtin_backends();
  for (const Problem& p : load_suite(suite, 1)) {
    const std::string desc = to_string(p);
    benchmark::RegisterBenchmark(("copy/" + desc).c_str(), host_copy, static_cast<size_t>(moved_bytes(p) / 2));
    for (auto& b : backends) {
      if (b->weak() || !b->availability().available || !b->supports(p).supported) continue;
      Backend* be = b.get();
      if (be->time_on_device(p, 0, 1))
        benchmark::RegisterBenchmark((b->name() + "/" + desc).c_str(), device_call, be, p)->UseManualTime();
      else
        benchmark::RegisterBenchmark((b->name() + "/" + desc).c_str(), host_call, be, p);
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
