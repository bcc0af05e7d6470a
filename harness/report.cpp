#include "harness/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>

#include "harness/json.hpp"
#include "harness/json_read.hpp"

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

void write_case(json::Writer& j, const CaseResult& c) {
  const CaseReport& r = c.report;
  const std::string& repro = c.repro;
  j.begin_object();
  if (c.case_index >= 0) j.key("case_index").value(static_cast<long long>(c.case_index));
  j.key("backend").value(r.backend);
  j.key("problem").value(to_string(r.problem));
  j.key("conventions").value(to_string(r.conv));
  j.key("verdict").value(to_string(r.verdict));
  j.key("message").value(r.message);
  j.key("seconds_backend").value(r.seconds_backend);
  j.key("seconds_reference").value(r.seconds_reference);
  j.key("reference_elements").value(static_cast<long long>(r.reference_elements));
  j.key("reference_slow_elements").value(static_cast<long long>(r.reference_slow_elements));
  j.key("repro").value(repro);
  if (!c.known.empty()) j.key("known").value(c.known);
  if (!c.minimal.empty()) j.key("minimal").value(c.minimal);
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
  j.key("command").value(s.command);
  j.key("complete").value(s.complete);
  if (!s.complete) j.key("incomplete_reason").value(s.incomplete_reason);
  j.key("cases_planned").value(s.cases_planned);
  if (s.campaign) {
    j.key("campaign").begin_object();
    j.key("seed").value(std::to_string(s.campaign->seed));  // a string: seeds use all 64 bits
    j.key("shard").value(s.campaign->shard);
    j.key("shards").value(s.campaign->shards);
    j.key("cases").value(static_cast<long long>(s.campaign->cases));
    j.key("seconds").value(s.campaign->seconds);
    j.key("generator").value(s.campaign->generator);
    j.key("backends").value(s.campaign->backends);
    j.end_object();
  }
  j.key("summary").begin_object();
  for (const auto& [v, n] : s.counts) j.key(to_string(v)).value(n);
  j.end_object();
  j.key("cases").begin_array();
  for (const auto& c : cases) write_case(j, c);
  j.end_array();
  j.end_object();
  return j.str();
}

// Text for an XML attribute or element: markup characters as entities, bytes outside
// printable ASCII (control characters are not allowed in XML 1.0) as \xNN.
std::string xml_text(const std::string& s) {
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

namespace {

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
  o += "  <testsuite name=\"bncheck " + xml_text(s.command) + "\" " + counts + ">\n";
  o += "    <properties>\n      <property name=\"complete\" value=\"" + std::string(s.complete ? "true" : "false") +
       "\"/>\n";
  if (!s.complete)
    o += "      <property name=\"incomplete_reason\" value=\"" + xml_text(s.incomplete_reason) + "\"/>\n";
  o +=
      "      <property name=\"cases_planned\" value=\"" + std::to_string(s.cases_planned) + "\"/>\n    </properties>\n";
  for (const auto& c : cases) {
    const CaseReport& r = c.report;
    const std::string name =
        (c.case_index >= 0 ? "case " + std::to_string(c.case_index) + ": " : std::string()) + to_string(r.problem);
    o += "    <testcase classname=\"bncheck." + xml_text(s.command) + "." + xml_text(r.backend) + "\" name=\"" +
         xml_text(name) + "\" time=\"" + number(r.seconds_backend + r.seconds_reference, 6) + "\"";
    const JunitKind k = junit_kind(c);
    const std::string what = std::string(to_string(r.verdict)) + (r.message.empty() ? "" : ": " + r.message);
    if (k == JunitKind::passed) {
      o += "/>\n";
      continue;
    }
    o += ">\n";
    if (k == JunitKind::skipped) {
      const std::string why = c.known.empty() ? what : "known failure " + c.known + " (docs/findings.md): " + what;
      o += "      <skipped message=\"" + xml_text(why) + "\"/>\n";
    } else {
      const char* tag = k == JunitKind::failure ? "failure" : "error";
      const int wt = r.worst_tensor();
      std::string body = what;
      if (wt >= 0) body += "\n" + tensor_line(r.problem, r.tensors[static_cast<size_t>(wt)]);
      if (!c.minimal.empty()) body += "\nminimal: " + c.minimal;
      body += "\nrepro: " + c.repro;
      o += std::string("      <") + tag + " type=\"" + to_string(r.verdict) + "\" message=\"" + xml_text(what) + "\">" +
           xml_text(body) + "</" + tag + ">\n";
    }
    o += "    </testcase>\n";
  }
  o += "  </testsuite>\n</testsuites>\n";
  return o;
}

namespace {

Verdict verdict_named(const std::string& s, bool* ok) {
  for (Verdict v :
       {Verdict::pass, Verdict::fail, Verdict::mistrusted, Verdict::unsupported, Verdict::error, Verdict::unwritten,
        Verdict::oob_write, Verdict::crash, Verdict::timeout, Verdict::skipped, Verdict::unavailable})
    if (s == to_string(v)) return v;
  *ok = false;
  return Verdict::error;
}

double num(const json::Value* v) {
  if (!v) return 0;
  if (v->kind == json::Value::Kind::number) return v->num;
  if (v->kind == json::Value::Kind::string) {  // inf, -inf, nan are written as strings
    if (v->str == "inf") return HUGE_VAL;
    if (v->str == "-inf") return -HUGE_VAL;
    if (v->str == "nan") return NAN;
  }
  return 0;
}

std::string str(const json::Value& o, const char* key) { return o.get_string(key).value_or(""); }

// An integer field within [lo, hi] (a whole number), or nullopt: report files come from
// other machines and are read as data.
std::optional<int64_t> integer(const json::Value* v, double lo, double hi) {
  if (!v || v->kind != json::Value::Kind::number || !(v->num >= lo && v->num <= hi) || v->num != std::floor(v->num))
    return std::nullopt;
  return static_cast<int64_t>(v->num);
}

// Conventions as to_string(Conventions) writes them: the descriptor's rvar, momdir and
// save tokens, and running=none, zero_var_invstd=0.
Conventions conventions_named(const std::string& s) {
  std::string desc = "n=1,c=1";
  Conventions extra;
  size_t at = 0;
  while (at <= s.size()) {
    const size_t end = std::min(s.find(',', at), s.size());
    const std::string tok = s.substr(at, end - at);
    if (tok == "running=none")
      extra.keeps_running = false;
    else if (tok == "zero_var_invstd=0")
      extra.zero_var_invstd_is_zero = true;
    else if (!tok.empty())
      desc += "," + tok;
    at = end + 1;
  }
  Conventions c = parse_problem(desc).conv;
  c.keeps_running = extra.keeps_running;
  c.zero_var_invstd_is_zero = extra.zero_var_invstd_is_zero;
  return c;
}

}  // namespace

Result<std::pair<RunSummary, std::vector<CaseResult>>> read_run_json(const std::string& text) {
  auto parsed = json::parse(text);
  if (!parsed) return Result<std::pair<RunSummary, std::vector<CaseResult>>>::failure(parsed.error());
  const json::Value& d = *parsed;
  using R = Result<std::pair<RunSummary, std::vector<CaseResult>>>;
  const json::Value* version = d.get("bncheck_report");
  if (!version || version->num != 1) return R::failure("not a bncheck report of version 1 (bncheck_report: 1)");
  RunSummary s;
  s.command = str(d, "command");
  if (s.command != "run" && s.command != "fuzz") return R::failure("not a report of `run` or `fuzz`");
  const json::Value* complete = d.get("complete");
  s.complete = complete && complete->b;
  s.incomplete_reason = str(d, "incomplete_reason");
  const auto planned = integer(d.get("cases_planned"), 0, 2e9);
  if (!planned) return R::failure("cases_planned is not a count");
  s.cases_planned = static_cast<int>(*planned);
  if (const json::Value* c = d.get("campaign")) {
    RunSummary::Campaign k;
    const std::string seed = str(*c, "seed");
    try {
      size_t used = 0;
      k.seed = std::stoull(seed, &used);
      if (used != seed.size()) throw std::invalid_argument("seed");
    } catch (const std::exception&) {
      return R::failure("campaign.seed is not an unsigned integer");
    }
    const auto shards = integer(c->get("shards"), 1, 1e9);
    const auto shard = shards ? integer(c->get("shard"), 0, static_cast<double>(*shards - 1)) : std::nullopt;
    const auto bound = integer(c->get("cases"), -1, 9.2e18);
    const json::Value* secs = c->get("seconds");
    if (!shards || !shard || !bound || !secs || secs->kind != json::Value::Kind::number)
      return R::failure("campaign: shard I of N (0 <= I < N), cases and seconds are not numbers in range");
    k.shard = static_cast<int>(*shard);
    k.shards = static_cast<int>(*shards);
    k.cases = *bound;
    k.seconds = secs->num;
    k.generator = str(*c, "generator");
    k.backends = str(*c, "backends");
    s.campaign = k;
  }
  std::vector<CaseResult> cases;
  const json::Value* list = d.get("cases");
  if (!list || list->kind != json::Value::Kind::array) return R::failure("no cases array");
  for (const json::Value& v : list->items) {
    CaseResult c;
    CaseReport& r = c.report;
    bool ok = true;
    r.backend = str(v, "backend");
    try {
      r.problem = parse_problem(str(v, "problem"));
      r.conv = conventions_named(str(v, "conventions"));
    } catch (const std::exception& e) {
      return R::failure(std::string("a case's problem or conventions: ") + e.what());
    }
    r.verdict = verdict_named(str(v, "verdict"), &ok);
    if (!ok) return R::failure("unknown verdict '" + printable(str(v, "verdict"), 40) + "'");
    r.message = str(v, "message");
    r.seconds_backend = num(v.get("seconds_backend"));
    r.seconds_reference = num(v.get("seconds_reference"));
    if (const json::Value* e = v.get("reference_elements"); e && e->num >= 0)
      r.reference_elements = static_cast<uint64_t>(e->num);
    if (const json::Value* e = v.get("reference_slow_elements"); e && e->num >= 0)
      r.reference_slow_elements = static_cast<uint64_t>(e->num);
    c.repro = str(v, "repro");
    c.known = str(v, "known");
    c.minimal = str(v, "minimal");
    if (v.get("case_index")) {
      const auto i = integer(v.get("case_index"), 0, 9.2e18);
      if (!i) return R::failure("a case_index is not a case number");
      c.case_index = *i;
    }
    if (const json::Value* ts = v.get("tensors"))
      for (const json::Value& t : ts->items) {
        TensorReport tr;
        tr.name = str(t, "name");
        const auto count = integer(t.get("count"), 0, 9e15), fails = integer(t.get("failures"), 0, 9e15),
                   unwritten = integer(t.get("unwritten"), 0, 9e15), worst = integer(t.get("worst_index"), 0, 9e15);
        if (!count || !fails || !unwritten || !worst)
          return R::failure("a tensor's count, failures, unwritten or worst_index is not a count");
        tr.count = static_cast<size_t>(*count);
        tr.failures = static_cast<size_t>(*fails);
        tr.unwritten = static_cast<size_t>(*unwritten);
        tr.max_ulp = num(t.get("max_ulp"));
        tr.median_ulp = num(t.get("median_ulp"));
        tr.max_ratio = num(t.get("max_err_over_budget"));
        tr.worst = static_cast<size_t>(*worst);
        tr.worst_ref = num(t.get("worst_ref"));
        tr.worst_got = num(t.get("worst_got"));
        tr.worst_err = num(t.get("worst_err"));
        tr.worst_budget = num(t.get("worst_budget"));
        r.tensors.push_back(tr);
      }
    ++s.counts[r.verdict];
    cases.push_back(std::move(c));
  }
  return std::make_pair(std::move(s), std::move(cases));
}

std::string props_json(bool complete, uint64_t seed, const std::vector<PropertyResult>& rs) {
  json::Writer j;
  j.begin_object();
  j.key("bncheck_report").value(1);
  j.key("command").value("props");
  j.key("complete").value(complete);
  j.key("seed").value(std::to_string(seed));
  j.key("campaigns").begin_array();
  for (const auto& r : rs) {
    j.begin_object();
    j.key("property").value(r.property);
    j.key("backend").value(r.backend);
    j.key("result").value(r.result);
    j.key("cases").value(r.cases);
    j.key("applicable").value(r.applicable);
    j.key("notes").value(r.notes);
    if (r.result == "FAIL" || r.result == "KNOWN") {
      j.key("message").value(r.message);
      j.key("minimal").value(r.minimal);
      j.key("aux").value(std::to_string(r.aux));
      j.key("repro").value(r.repro);
      if (!r.known.empty()) j.key("known").value(r.known);
    }
    j.end_object();
  }
  j.end_array();
  j.end_object();
  return j.str();
}

std::string props_junit(bool complete, const std::vector<PropertyResult>& rs) {
  int failures = 0, skipped = 0;
  for (const auto& r : rs) {
    failures += r.result == "FAIL";
    skipped += r.result != "FAIL" && r.result != "PASS";
  }
  const std::string counts = "tests=\"" + std::to_string(rs.size()) + "\" failures=\"" + std::to_string(failures) +
                             "\" errors=\"0\" skipped=\"" + std::to_string(skipped) + "\"";
  std::string o = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"bncheck\" " + counts + ">\n";
  o += "  <testsuite name=\"bncheck props\" " + counts +
       ">\n    <properties>\n      <property name=\"complete\" value=\"" + std::string(complete ? "true" : "false") +
       "\"/>\n    </properties>\n";
  for (const auto& r : rs) {
    o += "    <testcase classname=\"bncheck.props." + xml_text(r.backend) + "\" name=\"" + xml_text(r.property) + "\"";
    if (r.result == "PASS") {
      o += "/>\n";
      continue;
    }
    o += ">\n";
    if (r.result == "FAIL") {
      o += "      <failure type=\"FAIL\" message=\"" + xml_text(r.message) + "\">" +
           xml_text(r.message + "\nminimal: " + r.minimal + "\nrepro: " + r.repro) + "</failure>\n";
    } else {
      const std::string why = r.result == "KNOWN" ? "known failure " + r.known + " (docs/findings.md): " + r.message
                                                  : "no generated case was applicable";
      o += "      <skipped message=\"" + xml_text(why) + "\"/>\n";
    }
    o += "    </testcase>\n";
  }
  o += "  </testsuite>\n</testsuites>\n";
  return o;
}

}  // namespace bncheck::report
