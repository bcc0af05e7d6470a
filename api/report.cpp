#include "bncheck/report.hpp"

namespace bncheck {

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::pass: return "PASS";
    case Verdict::fail: return "FAIL";
    case Verdict::mistrusted: return "MISTRUSTED";
    case Verdict::unsupported: return "UNSUPPORTED";
    case Verdict::error: return "ERROR";
    case Verdict::unwritten: return "UNWRITTEN-OUTPUT";
    case Verdict::oob_write: return "OUT-OF-BOUNDS-WRITE";
    case Verdict::crash: return "CRASH";
    case Verdict::timeout: return "TIMEOUT";
    case Verdict::skipped: return "SKIPPED";
    case Verdict::unavailable: return "UNAVAILABLE";
  }
  return "?";
}

bool is_failure(Verdict v) {
  return v == Verdict::fail || v == Verdict::error || v == Verdict::unwritten || v == Verdict::oob_write ||
         v == Verdict::crash || v == Verdict::timeout;
}

int CaseReport::worst_tensor() const {
  int w = -1;
  for (size_t i = 0; i < tensors.size(); ++i)
    if (w < 0 || tensors[i].max_ratio > tensors[static_cast<size_t>(w)].max_ratio) w = static_cast<int>(i);
  return w;
}

}  // namespace bncheck
