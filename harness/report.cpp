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

std::string run_json(const RunSummary& s, const std::vector<CaseResult>& cases) {
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
  for (const auto& c : cases) write_case(j, c.report, c.repro);
  j.end_array();
  j.end_object();
  return j.str();
}

namespace {

// Text for an XML attribute or element: markup characters as entities, bytes outside
// printable ASCII (control characters are not allowed in XML 1.0) as \xNN.
std::string xml(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      case '\n': o += "&#10;"; break;
      default:
        if (u >= 0x20 && u < 0x7f) {
          o += ch;
        } else {
          char b[8];
          std::snprintf(b, sizeof b, "\\x%02x", u);
          o += b;
        }
    }
  }
  return o;
}

enum class JunitKind { passed, failure, error, skipped };

JunitKind junit_kind(const CaseResult& c) {
  const Verdict v = c.report.verdict;
  if (is_failure(v) && !c.known.empty()) return JunitKind::skipped;
  switch (v) {
    case Verdict::pass: return JunitKind::passed;
    case Verdict::fail:
    case Verdict::unwritten:
    case Verdict::oob_write: return JunitKind::failure;
    case Verdict::error:
    case Verdict::crash:
    case Verdict::timeout: return JunitKind::error;
    case Verdict::mistrusted:
    case Verdict::unsupported:
    case Verdict::skipped:
    case Verdict::unavailable: return JunitKind::skipped;
  }
  return JunitKind::error;
}

}  // namespace

std::string run_junit(const RunSummary& s, const std::vector<CaseResult>& cases) {
  int failures = 0, errors = 0, skipped = 0;
  double seconds = 0;
  for (const auto& c : cases) {
    const JunitKind k = junit_kind(c);
    failures += k == JunitKind::failure;
    errors += k == JunitKind::error;
    skipped += k == JunitKind::skipped;
    seconds += c.report.seconds_backend + c.report.seconds_reference;
  }
  std::string o = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  const std::string counts = "tests=\"" + std::to_string(cases.size()) + "\" failures=\"" + std::to_string(failures) +
                             "\" errors=\"" + std::to_string(errors) + "\" skipped=\"" + std::to_string(skipped) +
                             "\" time=\"" + number(seconds, 6) + "\"";
  o += "<testsuites name=\"bncheck\" " + counts + ">\n";
  o += "  <testsuite name=\"bncheck run\" " + counts + ">\n";
  o += "    <properties>\n      <property name=\"complete\" value=\"" + std::string(s.complete ? "true" : "false") +
       "\"/>\n";
  if (!s.complete) o += "      <property name=\"incomplete_reason\" value=\"" + xml(s.incomplete_reason) + "\"/>\n";
  o +=
      "      <property name=\"cases_planned\" value=\"" + std::to_string(s.cases_planned) + "\"/>\n    </properties>\n";
  for (const auto& c : cases) {
    const CaseReport& r = c.report;
    o += "    <testcase classname=\"bncheck.run." + xml(r.backend) + "\" name=\"" + xml(to_string(r.problem)) +
         "\" time=\"" + number(r.seconds_backend + r.seconds_reference, 6) + "\"";
    const JunitKind k = junit_kind(c);
    const std::string what = std::string(to_string(r.verdict)) + (r.message.empty() ? "" : ": " + r.message);
    if (k == JunitKind::passed) {
      o += "/>\n";
      continue;
    }
    o += ">\n";
    if (k == JunitKind::skipped) {
      const std::string why = c.known.empty() ? what : "known failure " + c.known + " (docs/findings.md): " + what;
      o += "      <skipped message=\"" + xml(why) + "\"/>\n";
    } else {
      const char* tag = k == JunitKind::failure ? "failure" : "error";
      const int wt = r.worst_tensor();
      std::string body = what;
      if (wt >= 0) body += "\n" + tensor_line(r.problem, r.tensors[static_cast<size_t>(wt)]);
      body += "\nrepro: " + c.repro;
      o += std::string("      <") + tag + " type=\"" + to_string(r.verdict) + "\" message=\"" + xml(what) + "\">" +
           xml(body) + "</" + tag + ">\n";
    }
    o += "    </testcase>\n";
  }
  o += "  </testsuite>\n</testsuites>\n";
  return o;
}

}  // namespace bncheck::report
