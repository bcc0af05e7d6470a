#include "harness/study.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <utility>

#include "api/text.hpp"
#include "harness/error_model.hpp"
#include "harness/json.hpp"
#include "harness/json_read.hpp"
#include "harness/report.hpp"
#include "harness/runner.hpp"
#include "harness/split.hpp"

namespace bncheck::study {

const char* to_string(Param p) {
  switch (p) {
    case Param::kappa: return "kappa";
    case Param::m: return "m";
    case Param::eps: return "eps";
    case Param::dtype: return "dtype";
  }
  return "?";
}

bool parse_param(const std::string& s, Param* p) {
  for (Param q : {Param::kappa, Param::m, Param::eps, Param::dtype})
    if (s == to_string(q)) {
      *p = q;
      return true;
    }
  return false;
}

namespace {

std::vector<double> decades(int from_half, int to_half) {  // 10^(k/2), k = from..to
  std::vector<double> v;
  for (int k = from_half; k <= to_half; ++k) v.push_back(std::pow(10.0, k / 2.0));
  return v;
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Least-squares slope of y on x; NaN with fewer than two distinct x.
double slope_of(const std::vector<std::pair<double, double>>& pts) {
  if (pts.size() < 2) return NAN;
  double sx = 0, sy = 0;
  for (const auto& [x, y] : pts) sx += x, sy += y;
  const double mx = sx / static_cast<double>(pts.size()), my = sy / static_cast<double>(pts.size());
  double sxx = 0, sxy = 0;
  for (const auto& [x, y] : pts) sxx += (x - mx) * (x - mx), sxy += (x - mx) * (y - my);
  return sxx > 0 ? sxy / sxx : NAN;
}

std::string num(double v, int prec = 3) {
  if (std::isnan(v)) return "-";
  char b[48];
  std::snprintf(b, sizeof b, "%.*g", prec, v);
  return b;
}

// Errors at or beyond kSaturated have lost every digit; growth starts at kGrowth times
// the floor.
constexpr double kSaturated = 0.1, kGrowth = 10;

const char* const kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"};

// The outputs by name, in the reference and the budget.
struct Named {
  const char* name;
  RefTensor Reference::*ref;
  std::vector<double> Budget::*budget;
};
constexpr Named kNamed[] = {{"y", &Reference::y, &Budget::y},
                            {"save_mean", &Reference::save_mean, &Budget::save_mean},
                            {"save_stat", &Reference::save_stat, &Budget::save_stat},
                            {"running_mean", &Reference::running_mean, &Budget::running_mean},
                            {"running_var", &Reference::running_var, &Budget::running_var},
                            {"dx", &Reference::dx, &Budget::dx},
                            {"dgamma", &Reference::dgamma, &Budget::dgamma},
                            {"dbeta", &Reference::dbeta, &Budget::dbeta}};

// The plotted value of a row: the fitted output's largest relative error.
bool plotted(const Row& r, const std::string& output, double* y, double* budget) {
  if (r.verdict != Verdict::pass && r.verdict != Verdict::fail && r.verdict != Verdict::mistrusted) return false;
  const OutputError* e = r.find(output);
  if (!e) return false;
  *y = e->max_rel;
  *budget = e->budget_rel;
  return true;
}

struct Series {
  std::vector<size_t> point;
  std::vector<double> x, y, budget;  // per point: medians over seeds
};

Series series(const Spec& spec, size_t s, const std::vector<Row>& rows, const std::string& backend) {
  const Sweep& sw = spec.sweeps[s];
  Series out;
  for (size_t i = 0; i < sw.values.size(); ++i) {
    std::vector<double> xs, ys, bs;
    for (const Row& r : rows) {
      double y = 0, b = 0;
      if (r.sweep != s || r.point != i || r.backend != backend || !plotted(r, sw.fit_output, &y, &b)) continue;
      xs.push_back(r.x);
      ys.push_back(y);
      bs.push_back(b);
    }
    if (xs.empty()) continue;
    out.point.push_back(i);
    out.x.push_back(median(xs));
    out.y.push_back(median(ys));
    out.budget.push_back(median(bs));
  }
  return out;
}

}  // namespace

const OutputError* Row::find(const std::string& n) const {
  for (const auto& o : outputs)
    if (o.name == n) return &o;
  return nullptr;
}

std::vector<std::string> preset_names() { return {"variance-algorithms", "dtype-ladder", "eps"}; }

bool preset(const std::string& name, Spec* spec) {
  Spec s;
  if (name == "variance-algorithms") {
    s.title = "Variance algorithms in f32: one-pass, two-pass, Welford/Chan (Chan, Golub & LeVeque 1983)";
    s.backends = {"cpu_one_pass_naive", "cpu_two_pass_f32", "cpu_welford", "cpu_two_pass"};
    // The variance itself (save=var), in f64 parameters: the algorithm's error, not the
    // rounding of an f32 output. kappa at two reduction sizes, then M at kappa ~ 10.
    const Problem m4 = parse_problem("n=100,c=1,sp=100,dt=f32,pdt=f64,save=var,eps=0");
    const Problem m2 = parse_problem("n=1,c=1,sp=100,dt=f32,pdt=f64,save=var,eps=0");
    s.sweeps.push_back({Param::kappa, decades(0, 16), m4, "save_stat"});
    s.sweeps.push_back({Param::kappa, decades(0, 16), m2, "save_stat"});
    s.sweeps.push_back({Param::m, decades(4, 14),
                        parse_problem("n=1,c=1,dt=f32,pdt=f64,save=var,eps=0,fill=normal:10:1"), "save_stat"});
    for (size_t sw : {0, 1})
      for (const Expectation& e : std::vector<Expectation>{
               {sw, "cpu_one_pass_naive", "slope", 2, 0.3, "one-pass E[x^2]-E[x]^2: relative error ~ M u kappa^2"},
               {sw, "cpu_two_pass_f32", "slope_floor", 0, 0.3, "two-pass: M u + M^2 u^2 kappa^2: flat, M u first"},
               {sw, "cpu_two_pass_f32", "slope", 2, 0.3, "two-pass: M u + M^2 u^2 kappa^2: then kappa^2"},
               {sw, "cpu_welford", "slope", 1, 0.3, "Welford/Chan updating: relative error ~ M u kappa"}})
        s.expectations.push_back(e);
  } else if (name == "dtype-ladder") {
    s.title = "The dtype ladder: f64, f32, bf16, f16 data with f32 parameters";
    const Problem base = parse_problem("n=32,c=4,sp=16x16,pdt=f32,fill=normal:10:1");
    s.sweeps.push_back({Param::dtype, {0, 1, 2, 3}, base, "y"});
    Problem bwd = base;
    bwd.dir = Direction::bwd;
    s.sweeps.push_back({Param::dtype, {0, 1, 2, 3}, bwd, "dx"});
  } else if (name == "eps") {
    s.title = "eps from 0 to 1 at a tiny variance (sigma^2 = 1e-6), f32";
    std::vector<double> eps{0};
    for (int k = -12; k <= 0; ++k) eps.push_back(std::pow(10.0, k));
    s.sweeps.push_back({Param::eps, eps, parse_problem("n=16,c=4,sp=8x8,dt=f32,pdt=f32,fill=normal:0:1e-3"), "y"});
    Problem bwd = s.sweeps[0].base;
    bwd.dir = Direction::bwd;
    s.sweeps.push_back({Param::eps, eps, bwd, "dx"});
  } else {
    return false;
  }
  *spec = s;
  return true;
}

Problem point_problem(const Sweep& s, size_t i, int seed) {
  Problem p = s.base;
  p.seed = s.base.seed * 1000003ull + static_cast<uint64_t>(seed);
  const double v = s.values[i];
  switch (s.param) {
    case Param::kappa:
      p.fill.kind = FillKind::normal;
      if (!(p.fill.spread > 0)) p.fill.spread = 1;
      // Channel c's data has the mean fill.mean - 1.5 spread (harness/fill.cpp): aim channel 0 at kappa.
      p.fill.mean = p.fill.spread * (std::sqrt(std::max(0.0, v * v - 1)) + 1.5);
      break;
    case Param::m:
      p.n = std::max<int64_t>(1, std::llround(v));
      p.rank = 0;
      p.spatial = {1, 1, 1};
      break;
    case Param::eps: p.eps = v; break;
    case Param::dtype: p.dtype = kDtypes[static_cast<size_t>(v) % 4]; break;
  }
  fit_split(p);
  return p;
}

std::string case_name(size_t sweep, size_t point, int seed) {
  char b[48];
  std::snprintf(b, sizeof b, "s%02zu_p%03zu_k%d", sweep, point, seed);
  return b;
}

Row measure(CaseRunner& r, Backend& b) {
  Row row;
  row.backend = b.name();
  row.problem = to_string(r.problem());
  CaseOutputs out;
  const CaseReport rep = r.run(b, &out);
  row.verdict = rep.verdict;
  row.message = rep.message;
  if (rep.verdict != Verdict::pass && rep.verdict != Verdict::fail && rep.verdict != Verdict::mistrusted) return row;
  Problem bp = r.problem();
  bp.conv = b.conventions(bp);
  const Reference& ref = r.impl().reference(bp.conv);
  if (!ref.channel.empty()) {
    const ChannelRef& c0 = ref.channel[0];
    row.x = c0.var > 0 ? c0.rms / std::sqrt(c0.var) : INFINITY;
  }
  const Budget B = compute_budget(bp, bp.conv, case_numerics(b, bp), r.impl().data_for(bp.conv), ref);
  for (const TensorReport& t : rep.tensors) {
    OutputError e{t.name, t.max_ulp, t.median_ulp, t.max_ratio};
    const Tensor* got = out.find(t.name);
    for (const Named& n : kNamed) {
      if (t.name != n.name || !got) continue;
      const RefTensor& rt = ref.*n.ref;
      const std::vector<double>& bud = B.*n.budget;
      // Normwise: the largest error and the largest budget over the largest |exact|
      // (an elementwise relative error is meaningless where an output crosses 0).
      double scale = 0, err = 0, budget = 0;
      for (size_t i = 0; i < rt.size() && i < got->size(); ++i) {
        const double hi = rt.hi[i], g = got->get(i);
        if (!std::isfinite(hi)) continue;
        scale = std::max(scale, std::fabs(hi));
        err = std::max(err, std::isfinite(g) ? std::fabs((g - hi) - rt.lo_at(i)) : INFINITY);
        if (i < bud.size()) budget = std::max(budget, bud[i]);
      }
      if (scale > 0) {
        e.max_rel = err / scale;
        e.budget_rel = budget / scale;
      }
    }
    row.outputs.push_back(e);
  }
  return row;
}

std::vector<Fit> fit(const Spec& spec, const std::vector<Row>& rows, const std::vector<std::string>& backends) {
  std::vector<Fit> fits;
  for (size_t s = 0; s < spec.sweeps.size(); ++s) {
    if (spec.sweeps[s].param == Param::dtype) continue;  // not a magnitude
    for (const auto& b : backends) {
      const Series se = series(spec, s, rows, b);
      // The floor: the error at the sweep's first point, where the x-dependent term has
      // not yet risen above the x-independent ones.
      std::vector<std::pair<double, double>> all, growth, floor_pts;
      double floor_y = NAN;
      for (size_t i = 0; i < se.x.size(); ++i) {
        // Once saturated, later points say nothing of the algorithm's growth (a small
        // error there is data that has collapsed onto a few values).
        if (se.y[i] >= kSaturated) break;
        if (!(se.x[i] > 0 && std::isfinite(se.x[i]) && se.y[i] > 0)) continue;
        const std::pair<double, double> pt{std::log10(se.x[i]), std::log10(se.y[i])};
        if (std::isnan(floor_y)) floor_y = se.y[i];
        all.push_back(pt);
        if (se.y[i] > kGrowth * floor_y)
          growth.push_back(pt);
        else if (growth.empty())
          floor_pts.push_back(pt);
      }
      Fit f;
      f.sweep = s;
      f.backend = b;
      f.points = static_cast<int>(growth.size());
      f.floor = floor_y;
      if (!growth.empty()) {
        f.x_lo = std::pow(10.0, growth.front().first);
        f.x_hi = std::pow(10.0, growth.back().first);
      }
      f.slope = slope_of(growth);
      f.slope_floor = slope_of(floor_pts);
      f.slope_all = slope_of(all);
      fits.push_back(f);
    }
  }
  return fits;
}

std::vector<Outcome> judge(const Spec& spec, const std::vector<Fit>& fits) {
  std::vector<Outcome> v;
  for (const Expectation& e : spec.expectations) {
    double m = NAN;
    for (const Fit& f : fits)
      if (f.sweep == e.sweep && f.backend == e.backend) m = e.which == "slope_floor" ? f.slope_floor : f.slope;
    v.push_back({&e, m, !std::isnan(m), std::fabs(m - e.want) <= e.tolerance});
  }
  return v;
}

namespace {

double number_of(const json::Value* v) {
  if (!v) return NAN;
  if (v->kind == json::Value::Kind::number) return v->num;
  if (v->kind == json::Value::Kind::string) {
    if (v->str == "inf") return INFINITY;
    if (v->str == "-inf") return -INFINITY;
  }
  return NAN;
}

}  // namespace

Result<std::vector<Row>> read_rows(const std::string& text, const Spec& spec) {
  using R = Result<std::vector<Row>>;
  const auto v = json::parse(text);
  if (!v) return R::failure(v.error());
  if (v->get_string("format").value_or("") != "bncheck-study") return R::failure("not a study.json (format)");
  if (number_of(v->get("seeds")) != spec.seeds)
    return R::failure("measured with another number of seeds (--seeds " + std::to_string(spec.seeds) + " here)");
  const json::Value* sweeps = v->get("sweeps");
  if (!sweeps || sweeps->items.size() != spec.sweeps.size())
    return R::failure("another study: not " + std::to_string(spec.sweeps.size()) + " sweeps");
  for (size_t s = 0; s < spec.sweeps.size(); ++s) {
    const json::Value& j = sweeps->items[s];
    const json::Value* values = j.get("values");
    if (j.get_string("param").value_or("") != to_string(spec.sweeps[s].param) ||
        j.get_string("base").value_or("") != to_string(spec.sweeps[s].base) ||
        j.get_string("fit_output").value_or("") != spec.sweeps[s].fit_output || !values ||
        values->items.size() != spec.sweeps[s].values.size())
      return R::failure("another study: sweep " + std::to_string(s) + " differs");
  }
  const json::Value* rows = v->get("rows");
  if (!rows) return R::failure("no rows");
  std::vector<Row> out;
  for (const json::Value& j : rows->items) {
    Row r;
    const double sweep = number_of(j.get("sweep")), point = number_of(j.get("point")), seed = number_of(j.get("seed"));
    if (!(sweep >= 0 && sweep < static_cast<double>(spec.sweeps.size())) || !(point >= 0) || !(seed >= 1))
      return R::failure("a row without a valid sweep, point or seed");
    r.sweep = static_cast<size_t>(sweep);
    r.point = static_cast<size_t>(point);
    r.seed = static_cast<int>(seed);
    if (r.point >= spec.sweeps[r.sweep].values.size()) return R::failure("a row's point is beyond its sweep");
    r.backend = j.get_string("backend").value_or("");
    if (!valid_backend_name(r.backend)) return R::failure("a row's backend is not a backend name");
    r.x_nominal = number_of(j.get("x_nominal"));
    r.x = number_of(j.get("x"));
    const std::string verdict = j.get_string("verdict").value_or("");
    bool known = false;
    for (int k = 0; k <= static_cast<int>(Verdict::unavailable); ++k)
      if (verdict == bncheck::to_string(static_cast<Verdict>(k))) {
        r.verdict = static_cast<Verdict>(k);
        known = true;
      }
    if (!known) return R::failure("a row's verdict '" + printable(verdict, 40) + "' is not a verdict");
    r.message = j.get_string("message").value_or("");
    r.problem = j.get_string("problem").value_or("");
    if (const json::Value* outs = j.get("outputs"))
      for (const json::Value& o : outs->items)
        r.outputs.push_back({o.get_string("name").value_or(""), number_of(o.get("max_ulp")),
                             number_of(o.get("median_ulp")), number_of(o.get("err_over_budget")),
                             number_of(o.get("max_rel")), number_of(o.get("budget_rel"))});
    out.push_back(std::move(r));
  }
  return out;
}

std::string csv(const Spec& spec, const std::vector<Row>& rows) {
  std::string s =
      "sweep,param,point,seed,backend,x_nominal,x,verdict,output,max_ulp,median_ulp,err_over_budget,max_rel,"
      "budget_rel,problem\n";
  auto g = [](double v, int prec) {
    char b[40];
    std::snprintf(b, sizeof b, "%.*g", prec, v);
    return std::string(b);
  };
  auto quoted = [](const std::string& v) {  // RFC 4180: inner quotes doubled
    std::string q = "\"";
    for (char ch : printable(v, 100000)) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
  };
  for (const Row& r : rows) {
    auto line = [&](const OutputError* e) {
      s += std::to_string(r.sweep) + "," + to_string(spec.sweeps[r.sweep].param) + "," + std::to_string(r.point) + "," +
           std::to_string(r.seed) + "," + quoted(r.backend) + "," + g(r.x_nominal, 17) + "," + g(r.x, 17) + "," +
           bncheck::to_string(r.verdict) + "," + (e ? e->name : "") + "," + g(e ? e->max_ulp : NAN, 6) + "," +
           g(e ? e->median_ulp : NAN, 6) + "," + g(e ? e->ratio : NAN, 6) + "," + g(e ? e->max_rel : NAN, 6) + "," +
           g(e ? e->budget_rel : NAN, 6) + "," + quoted(r.problem) + "\n";
    };
    if (r.outputs.empty()) line(nullptr);
    for (const auto& e : r.outputs) line(&e);
  }
  return s;
}

std::string json(const Spec& spec, const std::vector<Row>& rows, const std::vector<Fit>& fits,
                 const std::vector<Outcome>& outcomes) {
  json::Writer w;
  w.begin_object();
  w.key("format").value("bncheck-study");
  w.key("version").value(1);
  w.key("title").value(spec.title);
  w.key("seeds").value(spec.seeds);
  if (!spec.shard.empty()) w.key("shard").value(spec.shard);
  w.key("sweeps").begin_array();
  for (size_t s = 0; s < spec.sweeps.size(); ++s) {
    const Sweep& sw = spec.sweeps[s];
    w.begin_object();
    w.key("param").value(to_string(sw.param));
    w.key("base").value(to_string(sw.base));
    w.key("fit_output").value(sw.fit_output);
    w.key("values").begin_array();
    for (double v : sw.values) w.value(v);
    w.end_array();
    w.key("fits").begin_array();
    for (const Fit& f : fits) {
      if (f.sweep != s) continue;
      w.begin_object();
      w.key("backend").value(f.backend);
      w.key("points").value(f.points);
      w.key("floor").value(f.floor);
      w.key("slope").value(f.slope);
      w.key("slope_floor").value(f.slope_floor);
      w.key("slope_all").value(f.slope_all);
      w.key("x_lo").value(f.x_lo);
      w.key("x_hi").value(f.x_hi);
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.key("expectations").begin_array();
  for (const Outcome& o : outcomes) {
    w.begin_object();
    w.key("sweep").value(o.e->sweep);
    w.key("backend").value(o.e->backend);
    w.key("quantity").value(o.e->which);
    w.key("want").value(o.e->want);
    w.key("tolerance").value(o.e->tolerance);
    w.key("measured").value(o.measured);
    w.key("measured_at_all").value(o.measured_at_all);
    w.key("agrees").value(o.agrees);
    w.key("why").value(o.e->why);
    w.end_object();
  }
  w.end_array();
  w.key("rows").begin_array();
  for (const Row& r : rows) {
    w.begin_object();
    w.key("sweep").value(r.sweep);
    w.key("point").value(r.point);
    w.key("seed").value(r.seed);
    w.key("backend").value(r.backend);
    w.key("x_nominal").value(r.x_nominal);
    w.key("x").value(r.x);
    w.key("verdict").value(bncheck::to_string(r.verdict));
    w.key("message").value(r.message);
    w.key("problem").value(r.problem);
    w.key("outputs").begin_array();
    for (const auto& e : r.outputs) {
      w.begin_object();
      w.key("name").value(e.name);
      w.key("max_ulp").value(e.max_ulp);
      w.key("median_ulp").value(e.median_ulp);
      w.key("err_over_budget").value(e.ratio);
      w.key("max_rel").value(e.max_rel);
      w.key("budget_rel").value(e.budget_rel);
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return w.str() + "\n";
}

std::string svg_sweep(const Spec& spec, size_t s, const std::vector<Row>& rows, const std::vector<Fit>& fits,
                      const std::vector<std::string>& backends) {
  const Sweep& sw = spec.sweeps[s];
  const bool categorical = sw.param == Param::dtype;
  const double W = 840, H = 440, L = 70, R = 330, T = 40, B = 50;
  std::vector<Series> all;
  double x0 = HUGE_VAL, x1 = -HUGE_VAL, y0 = HUGE_VAL, y1 = -HUGE_VAL;
  for (const auto& b : backends) {
    all.push_back(series(spec, s, rows, b));
    const Series& se = all.back();
    for (size_t i = 0; i < se.x.size(); ++i) {
      if (!categorical && !(se.x[i] > 0 && std::isfinite(se.x[i]))) continue;
      const double lx = categorical ? 0 : std::log10(se.x[i]);
      x0 = std::min(x0, lx);
      x1 = std::max(x1, lx);
      for (double y : {se.y[i], se.budget[i]})
        if (y > 0 && std::isfinite(y)) y0 = std::min(y0, std::log10(y)), y1 = std::max(y1, std::log10(y));
    }
  }
  if (categorical) x0 = -0.5, x1 = static_cast<double>(sw.values.size()) - 0.5;
  if (!(x0 <= x1)) x0 = 0, x1 = 1;
  if (!(y0 <= y1)) y0 = -16, y1 = 0;
  if (!categorical) x0 = std::floor(x0), x1 = std::max(std::ceil(x1), x0 + 1);
  y0 = std::floor(std::max(y0, -30.0)), y1 = std::ceil(std::min(y1, 10.0));
  if (y1 <= y0) y1 = y0 + 1;
  auto px = [&](double lx) { return L + (lx - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double ly) { return T + (y1 - std::clamp(ly, y0, y1)) / (y1 - y0) * (H - T - B); };
  auto xpos = [&](size_t i, double x) { return categorical ? px(static_cast<double>(i)) : px(std::log10(x)); };
  std::string o;
  char b[512];
  std::snprintf(
      b, sizeof b,
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      W, H, W, H);
  o += b;
  o += "<text x=\"" + num(L, 4) + "\" y=\"20\" font-size=\"14\">" +
       report::xml_text(sw.fit_output + ": largest relative error against " + to_string(sw.param) + " (median of " +
                        std::to_string(spec.seeds) + " seeds)") +
       "</text>\n";
  // Grid and axes: a line a decade.
  const int label_every = y1 - y0 > 12 ? 2 : 1;  // labels no closer than ~30 px
  for (double ly = y0; ly <= y1 + 1e-9; ly += 1) {
    std::snprintf(b, sizeof b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", L, py(ly),
                  W - R, py(ly));
    o += b;
    if (static_cast<int>(ly - y0) % label_every == 0) {
      std::snprintf(b, sizeof b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">1e%d</text>", L - 6, py(ly) + 4,
                    static_cast<int>(ly));
      o += b;
    }
    o += "\n";
  }
  if (categorical) {
    for (size_t i = 0; i < sw.values.size(); ++i) {
      std::snprintf(b, sizeof b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                    px(static_cast<double>(i)), H - B + 18, dtype_name(kDtypes[static_cast<size_t>(sw.values[i]) % 4]));
      o += b;
    }
  } else {
    for (double lx = x0; lx <= x1 + 1e-9; lx += 1) {
      std::snprintf(b, sizeof b,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%.1f\" "
                    "y=\"%.1f\" text-anchor=\"middle\">1e%d</text>\n",
                    px(lx), T, px(lx), H - B, px(lx), H - B + 18, static_cast<int>(lx));
      o += b;
    }
  }
  std::snprintf(b, sizeof b,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"black\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                L, T, W - L - R, H - T - B, (L + W - R) / 2, H - 12,
                sw.param == Param::kappa ? "kappa = sqrt(1 + mu^2/sigma^2), measured"
                : sw.param == Param::m   ? "M = elements per channel"
                : sw.param == Param::eps ? "eps"
                                         : "data dtype");
  o += b;
  for (size_t k = 0; k < backends.size(); ++k) {
    const Series& se = all[k];
    const char* col = kColours[k % 8];
    for (int which = 0; which < 2; ++which) {
      std::string pts;
      const std::vector<double>& ys = which == 0 ? se.y : se.budget;
      for (size_t i = 0; i < se.x.size(); ++i) {
        if (!(ys[i] > 0) || (!categorical && !(se.x[i] > 0 && std::isfinite(se.x[i])))) continue;
        const size_t idx = se.point[i];
        std::snprintf(b, sizeof b, "%.1f,%.1f ", xpos(idx, se.x[i]), py(std::log10(std::min(ys[i], 1e300))));
        pts += b;
        if (which == 0) {
          std::snprintf(b, sizeof b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", xpos(idx, se.x[i]),
                        py(std::log10(std::min(ys[i], 1e300))), col);
          o += b;
        }
      }
      if (pts.empty()) continue;
      o += std::string("<polyline fill=\"none\" stroke=\"") + col + "\" stroke-width=\"" +
           (which == 0 ? "2\"" : "1\" stroke-dasharray=\"5,4\"") + " points=\"" + pts + "\"/>\n";
    }
    double slope = NAN;
    for (const Fit& f : fits)
      if (f.sweep == s && f.backend == backends[k]) slope = f.slope;
    const double ly = T + 14 + 34.0 * static_cast<double>(k);
    std::snprintf(b, sizeof b,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>"
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-dasharray=\"5,4\"/>\n",
                  W - R + 12, ly, W - R + 36, ly, col, W - R + 12, ly + 14, W - R + 36, ly + 14, col);
    o += b;
    o += "<text x=\"" + num(W - R + 42, 4) + "\" y=\"" + num(ly + 4, 4) + "\">" +
         report::xml_text(backends[k] + (categorical ? "" : "  exponent " + num(slope, 3))) + "</text>\n";
    o += "<text x=\"" + num(W - R + 42, 4) + "\" y=\"" + num(ly + 18, 4) + "\" fill=\"#555\">budget</text>\n";
  }
  o += "</svg>\n";
  return o;
}

std::string svg_histogram(const std::vector<Row>& rows, const std::string& backend) {
  // Bins: [0, 1/2], (1/2, 1], (1, 2], ..., (2^39, 2^40], beyond 2^40, non-finite.
  constexpr int kBins = 44;
  std::vector<long long> count(kBins, 0);
  for (const Row& r : rows) {
    if (r.backend != backend) continue;
    for (const auto& e : r.outputs) {
      const double u = e.max_ulp;
      int bin = 0;
      if (!std::isfinite(u))
        bin = kBins - 1;
      else if (u > 0.5)
        bin = std::min(kBins - 2, 1 + static_cast<int>(std::ceil(std::log2(u))));
      ++count[static_cast<size_t>(bin)];
    }
  }
  int last = 0;
  for (int i = 0; i < kBins; ++i)
    if (count[static_cast<size_t>(i)]) last = i;
  const int bins = std::max(last + 1, 4);
  const long long top = std::max<long long>(1, *std::max_element(count.begin(), count.end()));
  const double W = 560, H = 220, L = 50, T = 30, B = 50, bw = (W - L - 10) / bins;
  std::string o;
  char b[512];
  std::snprintf(
      b, sizeof b,
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      W, H, W, H);
  o += b;
  o += "<text x=\"" + num(L, 4) + "\" y=\"18\" font-size=\"13\">" +
       report::xml_text(backend + ": largest error in ulps of each output, every point and seed") + "</text>\n";
  for (int i = 0; i < bins; ++i) {
    const double h = (H - T - B) * static_cast<double>(count[static_cast<size_t>(i)]) / static_cast<double>(top);
    std::snprintf(b, sizeof b,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#4878a8\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%lld</text>\n",
                  L + i * bw + 1, H - B - h, bw - 2, h, L + (i + 0.5) * bw, H - B - h - 3,
                  count[static_cast<size_t>(i)]);
    o += b;
    std::string label = i == 0           ? "<=1/2"
                        : i == kBins - 1 ? "nan/inf"
                        : i == kBins - 2 ? ">2^40"
                                         : "<=2^" + std::to_string(i - 1);
    if (i % 2 == 0 || bins <= 12) {
      std::snprintf(b, sizeof b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", L + (i + 0.5) * bw,
                    H - B + 14, report::xml_text(label).c_str());
      o += b;
    }
  }
  std::snprintf(b, sizeof b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">ulps</text>\n</svg>\n", (L + W) / 2,
                H - 12);
  o += b;
  return o;
}

std::string html(const Spec& spec, const std::vector<Row>& rows, const std::vector<Fit>& fits,
                 const std::vector<Outcome>& outcomes, const std::vector<std::string>& backends) {
  std::string o =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + report::xml_text(spec.title) +
      "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
      "td,th{border:1px solid #bbb;padding:2px 8px;text-align:right}th{background:#eee}.no{color:#b00}"
      "p{overflow-wrap:anywhere}"
      ".yes{color:#070}</style></head>\n<body>\n<h1>" +
      report::xml_text(spec.title) + "</h1>\n<p>bncheck study: " + std::to_string(rows.size()) + " measurements, " +
      std::to_string(spec.seeds) +
      " seeds a point. Errors are against bncheck's correctly rounded reference; a point is the median over seeds "
      "of the largest relative error of the fitted output; dashed lines are the error budget "
      "(docs/error-model.md). The growth exponent is the least-squares slope of log error on log x over "
      "the points whose error has risen above 10 times the floor (the error at the first point) and is still "
      "below 0.1 (beyond it an algorithm has lost its digits); the slope on the floor fits the points before "
      "them.</p>\n";
  for (size_t s = 0; s < spec.sweeps.size(); ++s) {
    const Sweep& sw = spec.sweeps[s];
    o += "<h2>Sweep " + std::to_string(s) + ": " + to_string(sw.param) + " (" + report::xml_text(sw.fit_output) +
         ")</h2>\n<p>" + report::xml_text("base problem: " + to_string(sw.base)) + "</p>\n";
    o += svg_sweep(spec, s, rows, fits, backends);
    if (sw.param != Param::dtype) {
      o += "<table><tr><th>backend</th><th>floor</th><th>growth points</th><th>their x range</th><th>growth "
           "exponent</th><th>slope on the floor</th><th>slope of all points</th></tr>\n";
      for (const Fit& f : fits) {
        if (f.sweep != s) continue;
        o += "<tr><td>" + report::xml_text(f.backend) + "</td><td>" + num(f.floor) + "</td><td>" +
             std::to_string(f.points) + "</td><td>" + num(f.x_lo) + " - " + num(f.x_hi) + "</td><td>" + num(f.slope) +
             "</td><td>" + num(f.slope_floor) + "</td><td>" + num(f.slope_all) + "</td></tr>\n";
      }
      o += "</table>\n";
    }
  }
  if (!outcomes.empty()) {
    o += "<h2>Against the literature</h2>\n<table><tr><th>sweep</th><th>backend</th><th>exponent</th><th>expected</th>"
         "<th>measured</th><th></th><th>bound</th></tr>\n";
    for (const Outcome& c : outcomes)
      o += "<tr><td>" + std::to_string(c.e->sweep) + "</td><td>" + report::xml_text(c.e->backend) + "</td><td>" +
           report::xml_text(c.e->which) + "</td><td>" + num(c.e->want) + " &#177; " + num(c.e->tolerance) +
           "</td><td>" + num(c.measured) + "</td><td class=\"" +
           (!c.measured_at_all ? "no\">not measured"
            : c.agrees         ? "yes\">agrees"
                               : "no\">disagrees") +
           "</td><td>" + report::xml_text(c.e->why) + "</td></tr>\n";
    o += "</table>\n";
  }
  o += "<h2>Error histograms</h2>\n";
  for (const auto& b : backends) o += svg_histogram(rows, b);
  o += "</body></html>\n";
  return o;
}

}  // namespace bncheck::study
