// Google Benchmark over every available backend and the problems of a suite (default
// `bench`), beside a memcpy of the same bytes in the same run:
//   build/bncheck_gbench [--benchmark_filter=...] [suite-name]
// Host backends are timed per call on resident buffers; device backends report their
// kernel time (time_on_device) as manual time. bytes_per_second counts the minimal
// traffic: read x (and dy), write y (or dx).
#include <benchmark/benchmark.h>

#include <cstring>

#include "bncheck/backend.hpp"
#include "harness/runner.hpp"
#include "harness/suites.hpp"

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

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const std::string suite = argc > 1 ? argv[1] : "bench";
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
