#include "harness/split.hpp"

#include <algorithm>
#include <vector>

#include "harness/rng.hpp"

namespace bncheck {

Numerics case_numerics(const Backend& b, const Problem& p) {
  Numerics nx = b.numerics(p);
  if (p.split.empty()) return nx;
  nx.accumulation_bits = std::min(nx.accumulation_bits, 53);
  nx.compute_bits = std::min(nx.compute_bits, 53);
  nx.sum_based_stats = false;
  if (b.split_kind() == SplitKind::sums) nx.stats = StatsAlgorithm::one_pass;
  return nx;
}

Support split_support(const Backend& b, const Problem& p) {
  if (p.split.empty() || b.split_kind() != SplitKind::none) return Support::yes();
  return Support::no("split=: the backend has no split-statistics entry points");
}

std::vector<int64_t> draw_split(int64_t n, uint64_t seed) {
  uint64_t z = seed;
  auto next = [&z] { return splitmix64(z += 0x9E3779B97F4A7C15ull); };
  const int64_t K = 1 + static_cast<int64_t>(next() % 64);
  std::vector<int64_t> s(static_cast<size_t>(K), 0);
  auto slot = [&] { return static_cast<size_t>(next() % static_cast<uint64_t>(K)); };
  switch (next() % 4) {
    case 0:
      for (int64_t i = 0; i < n; ++i) ++s[slot()];
      break;
    case 1: {
      int64_t left = n;
      for (auto& v : s)
        if (left > 0 && next() % 3 != 0) v = 1, --left;
      s[slot()] += left;
      break;
    }
    case 2: {
      int64_t left = n;
      for (auto& v : s) {
        v = left / 2 + (left % 2 && next() % 2 ? 1 : 0);
        left -= v;
      }
      s[0] += left;
      break;
    }
    default: s[slot()] = n; break;
  }
  return s;
}

Status split_forward_training(Backend& b, const Problem& p, const ForwardTrainingArgs& a) {
  int64_t held = 0;
  bool negative = false;
  for (int64_t k : p.split) held += k, negative |= k < 0;
  if (negative || held != p.n || p.split.size() > static_cast<size_t>(kMaxSplit))
    return Status::error("split= holds " + std::to_string(held) + " samples in " + std::to_string(p.split.size()) +
                         " slices, n=" + std::to_string(p.n));
  const size_t K = p.split.size(), C = static_cast<size_t>(p.c);
  const size_t sample_bytes =
      static_cast<size_t>(p.c * p.spatial_size()) * static_cast<size_t>(format_info(p.dtype).bytes);
  Problem one = p;  // a slice's problem: no split of its own (K copies of it must not hold K splits)
  one.split = {};
  std::vector<Problem> slices(K, one);
  std::vector<size_t> offset(K);
  std::vector<int64_t> counts(K);
  size_t at = 0;
  for (size_t k = 0; k < K; ++k) {
    slices[k].n = p.split[k];
    offset[k] = at;
    counts[k] = p.split[k] * p.spatial_size();
    at += static_cast<size_t>(p.split[k]) * sample_bytes;
  }
  auto named = [&](const char* step, size_t k, Status s) {
    s.message = std::string(step) + " of slice " + std::to_string(k) + " (n=" + std::to_string(p.split[k]) +
                "): " + (s.message.empty() ? "returned an error" : s.message);
    return s;
  };
  std::vector<double> stats(2 * C * K, 0.0), merged(kMergedDoubles * C, 0.0);
  for (size_t k = 0; k < K; ++k) {
    const LocalStatsArgs la{static_cast<const char*>(a.x) + offset[k], stats.data() + 2 * C * k};
    const Status s = b.local_stats(slices[k], la);
    if (!s.ok()) return named("local_stats", k, s);
  }
  const MergeStatsArgs ma{static_cast<int64_t>(K), counts.data(), stats.data(), merged.data(), a.save_mean, a.save_stat,
                          a.running_mean,          a.running_var};
  Status s = b.merge_stats(p, ma);
  if (!s.ok()) {
    s.message = "merge_stats: " + (s.message.empty() ? std::string("returned an error") : s.message);
    return s;
  }
  for (size_t k = 0; k < K; ++k) {
    const ApplyStatsArgs aa{static_cast<const char*>(a.x) + offset[k], a.gamma, a.beta, merged.data(),
                            static_cast<char*>(a.y) + offset[k]};
    const Status t = b.apply_stats(slices[k], aa);
    if (!t.ok()) return named("apply_stats", k, t);
  }
  return Status::success();
}

}  // namespace bncheck
