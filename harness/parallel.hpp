// The harness's per-element passes (budgets, comparisons) on the reference's threads
// (`--threads`): items [0, n) in chunks handed out from a shared counter. Each item
// writes only its own outputs, so the result is the same for any number of threads;
// small passes stay on the calling thread, where a thread's start would cost more than
// it saves.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <system_error>
#include <thread>
#include <vector>

#include "reference/reference.hpp"

namespace bncheck {

// Calls f(begin, end) over chunks covering [0, n); `elements` is the pass's total work
// in elements, which decides the number of threads (one per 2^16 elements, at most
// reference_threads()).
template <class F>
void parallel_chunks(int64_t n, int64_t elements, F f) {
  const int64_t by_work = elements >> 16;
  const int threads = static_cast<int>(std::min<int64_t>({reference_threads(), by_work, n}));
  if (threads <= 1) {
    if (n > 0) f(int64_t{0}, n);
    return;
  }
  const int64_t chunk = std::max<int64_t>(1, n / (8 * threads));
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t b = next.fetch_add(chunk); b < n; b = next.fetch_add(chunk)) f(b, std::min(n, b + chunk));
  };
  std::vector<std::thread> pool;
  try {
    for (int k = 1; k < threads; ++k) pool.emplace_back(work);
  } catch (const std::system_error&) {  // no thread to spare: the calling thread does the rest
  }
  work();
  for (std::thread& t : pool) t.join();
}

}  // namespace bncheck
