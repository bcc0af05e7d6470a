#include "harness/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>

#include "harness/json.hpp"

namespace bncheck::report {

std::string number(double v, int prec) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char b[64];
  std::snprintf(b, sizeof b, "%.*g", prec, v);
  return b;
}

std::string element_name(const Problem& p, const std::string& tensor, size_t i) {
  if (tensor != "y" && tensor != "dx") return tensor + "[c=" + std::to_string(i) + "]";
  const auto li = static_cast<int64_t>(i);
  const int64_t S = p.spatial_size();
  int64_t n, c, s;
  if (p.layout == Layout::channels_first) {
    s = li % S;
    c = (li / S) % p.c;
    n = li / (S * p.c);
  } else {
    c = li % p.c;
    s = (li / p.c) % S;
    n = li / (S * p.c);
  }
  std::string out = tensor + "[n=" + std::to_string(n) + ",c=" + std::to_string(c);
  if (p.rank) {
    out += ",sp=";
    int64_t rest = s;
    std::vector<int64_t> idx(static_cast<size_t>(p.rank));
    for (int d = p.rank - 1; d >= 0; --d) {
      idx[static_cast<size_t>(d)] = rest % p.spatial[d];
      rest /= p.spatial[d];
    }
    for (int d = 0; d < p.rank; ++d) out += (d ? "x" : "") + std::to_string(idx[static_cast<size_t>(d)]);
  }
  return out + "]";
}

namespace {

std::string printf_string(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string printf_string(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  va_list ap2;
  va_copy(ap2, ap);
  const int n = std::vsnprintf(nullptr, 0, format, ap);
  va_end(ap);
  std::string s(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(s.data(), s.size() + 1, format, ap2);
  va_end(ap2);
  return s;
}

}  // namespace

std::string table_header() {
  return printf_string("%5s  %-20s %-19s %9s %9s %10s  %-26s %s\n", "case", "backend", "verdict", "max_ulp", "med_ulp",
                       "err/budget", "worst", "problem");
}

std::string table_row(int case_no, const CaseReport& r) {
  const int wt = r.worst_tensor();
  std::string worst = "-", maxu = "-", medu = "-", ratio = "-";
  if (wt >= 0) {
    const TensorReport& t = r.tensors[static_cast<size_t>(wt)];
    worst = element_name(r.problem, t.name, t.worst);
    ratio = number(t.max_ratio);
    double mx = 0, md = 0;
    for (const auto& tt : r.tensors) {
      mx = std::max(mx, tt.max_ulp);
      md = std::max(md, tt.median_ulp);
    }
    maxu = number(mx);
    medu = number(md);
  }
  return printf_string("%5d  %-20s %-19s %9s %9s %10s  %-26s %s\n", case_no, r.backend.c_str(), to_string(r.verdict),
                       maxu.c_str(), medu.c_str(), ratio.c_str(), worst.c_str(), to_string(r.problem).c_str());
}

std::string tensor_line(const Problem& p, const TensorReport& t) {
  return printf_string(
      "      %-12s max %s ulp, median %s ulp, err/budget %s; worst %s: ref %s got %s err %s budget %s%s\n",
      t.name.c_str(), number(t.max_ulp).c_str(), number(t.median_ulp).c_str(), number(t.max_ratio).c_str(),
      element_name(p, t.name, t.worst).c_str(), number(t.worst_ref, 9).c_str(), number(t.worst_got, 9).c_str(),
      number(t.worst_err).c_str(), number(t.worst_budget).c_str(),
      t.failures ? (" [" + std::to_string(t.failures) + " beyond budget]").c_str() : "");
}

namespace {

void write_case(json::Writer& j, const CaseReport& r, const std::string& repro) {
  j.begin_object();
  j.key("backend").value(r.backend);
  j.key("problem").value(to_string(r.problem));
  j.key("conventions").value(to_string(r.conv));
  j.key("verdict").value(to_string(r.verdict));
  j.key("message").value(r.message);
  j.key("seconds_backend").value(r.seconds_backend);
  j.key("seconds_reference").value(r.seconds_reference);
  j.key("repro").value(repro);
  j.key("tensors").begin_array();
  for (const auto& t : r.tensors) {
    j.begin_object();
    j.key("name").value(t.name);
    j.key("count").value(t.count);
    j.key("failures").value(t.failures);
    j.key("unwritten").value(t.unwritten);
    j.key("max_ulp").value(t.max_ulp);
    j.key("median_ulp").value(t.median_ulp);
    j.key("max_err_over_budget").value(t.max_ratio);
    j.key("worst_index").value(t.worst);
    j.key("worst_element").value(element_name(r.problem, t.name, t.worst));
    j.key("worst_ref").value(t.worst_ref);
    j.key("worst_got").value(t.worst_got);
    j.key("worst_err").value(t.worst_err);
    j.key("worst_budget").value(t.worst_budget);
    j.end_object();
  }
  j.end_array();
  j.end_object();
}

}  // namespace

std::string run_json(const RunSummary& s, const std::vector<std::pair<CaseReport, std::string>>& cases) {
  json::Writer j;
  j.begin_object();
  j.key("bncheck_report").value(1);
  j.key("command").value("run");
  j.key("complete").value(s.complete);
  if (!s.complete) j.key("incomplete_reason").value(s.incomplete_reason);
  j.key("cases_planned").value(s.cases_planned);
  j.key("summary").begin_object();
  for (const auto& [v, n] : s.counts) j.key(to_string(v)).value(n);
  j.end_object();
  j.key("cases").begin_array();
  for (const auto& [r, repro] : cases) write_case(j, r, repro);
  j.end_array();
  j.end_object();
  return j.str();
}

}  // namespace bncheck::report
