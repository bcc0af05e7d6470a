#include "bncheck/problem.hpp"

#include "api/text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <vector>

namespace bncheck {

const char* const kDescriptorHelp = R"(PROBLEM DESCRIPTORS
  A problem is one line of comma-separated key=value tokens (no spaces):
    n=N            batch size (required, >= 1)
    c=C            channels (required, >= 1)
    sp=DxHxW       spatial sizes, 0 to 3 of them ('sp=' or omitted: none)
    layout=cf|cl   channels-first (N,C,spatial) or channels-last (N,spatial,C);
                   aliases: nc, ncw, nchw, ncdhw = cf; nwc, nhwc, ndhwc = cl
    dt=T           data type of x, y, dy, dx: f64, f32, f16, bf16        [f32]
    pdt=T          type of gamma, beta, statistics, dgamma, dbeta       [f32]
    dir=D          fwd_train, fwd_infer or bwd                          [fwd_train]
    eps=E          epsilon added to the variance, >= 0                  [1e-05]
    mom=M          momentum of the running statistics, in [0, 1]        [0.1]
    affine=0|1     gamma/beta present                                   [1]
    fill=F         data of x:                                           [normal:0:1]
                     normal:MEAN:STD     uniform:MEAN:HALFWIDTH
                     const:VALUE         exact:MEAN:STEP (mean and variance exact
                                         in any summation order; STEP a power of 2)
    seed=S         seed of the data (x, gamma, beta, dy, running stats) [1]
    poison=K@C     one NaN, inf or -inf (K) in channel C of x            [none]
    rvar=unbiased|biased    running variance convention                [unbiased]
    momdir=new|old          r <- (1-m)r + m*s (new) or m*r + (1-m)*s (old) [new]
    save=invstd|var         statistic saved for backward               [invstd]
    split=A:B:...  dir=fwd_train as the ranks of distributed BN compute it: the
                   batch sizes of consecutive slices (sum n, 0 and 1 allowed, at
                   most 4096 slices); local statistics per slice, one merge, each
                   slice normalized with the merged ones; judged against the whole
                   batch's exact outputs                                [none]
  Examples:
    n=2,c=64,sp=56x56
    n=32,c=3,sp=7x7,layout=cl,dt=f16,pdt=f32,dir=bwd
    n=4,c=8,sp=33,dt=f32,fill=normal:1e4:1,seed=7
    n=1,c=16,sp=2x3x5,dir=fwd_infer,rvar=biased,momdir=old,save=var
    n=9,c=4,sp=5x5,split=4:0:1:4
)";

const char* to_string(Layout l) { return l == Layout::channels_first ? "cf" : "cl"; }
const char* to_string(Direction d) {
  switch (d) {
    case Direction::fwd_train: return "fwd_train";
    case Direction::fwd_infer: return "fwd_infer";
    case Direction::bwd: return "bwd";
  }
  return "?";
}
const char* to_string(RunningVar v) { return v == RunningVar::unbiased ? "unbiased" : "biased"; }
const char* to_string(MomentumDir v) { return v == MomentumDir::new_stat ? "new" : "old"; }
const char* to_string(SavedStat v) { return v == SavedStat::invstd ? "invstd" : "var"; }

namespace {

// Shortest text that parses back to the same double.
std::string fmt_double(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

[[noreturn]] void fail(std::string_view token, const std::string& why) {
  throw DescriptorError("bad descriptor token '" + printable(token, 120) + "': " + why);
}

double parse_double(std::string_view token, std::string_view s) {
  double v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!s.empty() && r.ec == std::errc::result_out_of_range && r.ptr == s.data() + s.size())
    fail(token, "'" + printable(s, 60) + "' is out of the range of a double");
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size())
    fail(token, "'" + printable(s, 60) + "' is not a number");
  return v;
}

int64_t parse_int(std::string_view token, std::string_view s, int64_t lo, int64_t hi) {
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size())
    fail(token, "'" + printable(s, 60) + "' is not an integer");
  if (v < lo || v > hi)
    fail(token, std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

Fill parse_fill(std::string_view token, std::string_view v) {
  auto parts = split(v, ':');
  Fill f;
  auto want = [&](size_t k) {
    if (parts.size() != k)
      fail(token, "fill '" + std::string(parts[0]) + "' takes " + std::to_string(k - 1) + " ':'-separated numbers");
  };
  if (parts[0] == "normal" || parts[0] == "uniform") {
    want(3);
    f.kind = parts[0] == "normal" ? FillKind::normal : FillKind::uniform;
    f.mean = parse_double(token, parts[1]);
    f.spread = parse_double(token, parts[2]);
    if (!(f.spread >= 0) || !std::isfinite(f.spread)) fail(token, "spread must be finite and >= 0");
  } else if (parts[0] == "const") {
    want(2);
    f.kind = FillKind::constant;
    f.mean = parse_double(token, parts[1]);
    f.spread = 0;
  } else if (parts[0] == "exact") {
    want(3);
    f.kind = FillKind::exact;
    f.mean = parse_double(token, parts[1]);
    f.spread = parse_double(token, parts[2]);
    int e = 0;
    if (!(f.spread > 0) || !std::isfinite(f.spread) || std::frexp(f.spread, &e) != 0.5)
      fail(token, "the step of an exact fill must be a positive power of two");
  } else {
    fail(token, "unknown fill '" + std::string(parts[0]) + "' (normal, uniform, const, exact)");
  }
  if (!std::isfinite(f.mean)) fail(token, "the mean must be finite");
  return f;
}

}  // namespace

std::string to_string(const Fill& f) {
  switch (f.kind) {
    case FillKind::normal: return "normal:" + fmt_double(f.mean) + ":" + fmt_double(f.spread);
    case FillKind::uniform: return "uniform:" + fmt_double(f.mean) + ":" + fmt_double(f.spread);
    case FillKind::constant: return "const:" + fmt_double(f.mean);
    case FillKind::exact: return "exact:" + fmt_double(f.mean) + ":" + fmt_double(f.spread);
  }
  return "?";
}

std::string to_string(const Conventions& c) {
  return std::string("rvar=") + to_string(c.running_var) + ",momdir=" + to_string(c.momentum_dir) +
         ",save=" + to_string(c.saved) + (c.keeps_running ? "" : ",running=none") +
         (c.zero_var_invstd_is_zero ? ",zero_var_invstd=0" : "") + (c.eps_float ? ",eps=float" : "") +
         (c.single_element_biased ? ",m1_rvar=biased" : "");
}

std::string to_string(const Problem& p) {
  std::string s = "n=" + std::to_string(p.n) + ",c=" + std::to_string(p.c);
  if (p.rank > 0) {
    s += ",sp=";
    for (int i = 0; i < p.rank; ++i) s += (i ? "x" : "") + std::to_string(p.spatial[i]);
  }
  s += std::string(",layout=") + to_string(p.layout) + ",dt=" + dtype_name(p.dtype) + ",pdt=" + dtype_name(p.pdtype) +
       ",dir=" + to_string(p.dir) + ",eps=" + fmt_double(p.eps) + ",mom=" + fmt_double(p.momentum) +
       ",affine=" + (p.affine ? "1" : "0") + ",fill=" + to_string(p.fill) + ",seed=" + std::to_string(p.seed);
  const Conventions def;
  if (p.conv.running_var != def.running_var) s += std::string(",rvar=") + to_string(p.conv.running_var);
  if (p.conv.momentum_dir != def.momentum_dir) s += std::string(",momdir=") + to_string(p.conv.momentum_dir);
  if (p.conv.saved != def.saved) s += std::string(",save=") + to_string(p.conv.saved);
  if (p.poison.kind != PoisonKind::none) {
    const char* k = p.poison.kind == PoisonKind::nan ? "nan" : p.poison.kind == PoisonKind::pinf ? "inf" : "-inf";
    s += std::string(",poison=") + k + "@" + std::to_string(p.poison.channel);
  }
  if (!p.split.empty()) {
    s += ",split=";
    for (size_t i = 0; i < p.split.size(); ++i) s += (i ? ":" : "") + std::to_string(p.split[i]);
  }
  return s;
}

Problem parse_problem(std::string_view desc) {
  Problem required;  // n and c have no default
  required.n = 0;
  required.c = 0;
  return parse_problem(desc, required);
}

Problem parse_problem(std::string_view desc, const Problem& base) {
  Problem p = base;
  bool have_n = false, have_c = false;
  std::set<std::string_view> keys;
  if (desc.empty()) throw DescriptorError("empty problem descriptor (expected e.g. 'n=2,c=64,sp=56x56')");
  for (std::string_view token : split(desc, ',')) {
    const size_t eq = token.find('=');
    if (token.empty()) throw DescriptorError("empty token in descriptor '" + printable(desc, 200) + "' (stray comma?)");
    if (eq == std::string_view::npos) fail(token, "expected key=value");
    const std::string_view key = token.substr(0, eq), v = token.substr(eq + 1);
    if (!keys.insert(key).second) fail(token, "key '" + printable(key, 40) + "' given twice");
    constexpr int64_t kMaxDim = int64_t{1} << 40;
    if (key == "n") {
      p.n = parse_int(token, v, 1, kMaxDim);
      have_n = true;
    } else if (key == "c") {
      p.c = parse_int(token, v, 1, kMaxDim);
      have_c = true;
    } else if (key == "sp") {
      p.rank = 0;
      p.spatial = {1, 1, 1};
      if (!v.empty() && v != "-") {
        auto dims = split(v, 'x');
        if (dims.size() > 3) fail(token, "at most 3 spatial dimensions");
        for (auto d : dims) p.spatial[p.rank++] = parse_int(token, d, 1, kMaxDim);
      }
    } else if (key == "layout") {
      if (v == "cf" || v == "nc" || v == "ncw" || v == "nchw" || v == "ncdhw")
        p.layout = Layout::channels_first;
      else if (v == "cl" || v == "nwc" || v == "nhwc" || v == "ndhwc")
        p.layout = Layout::channels_last;
      else
        fail(token, "layout is cf or cl (or nchw, nhwc, ...)");
    } else if (key == "dt" || key == "pdt") {
      auto dt = parse_dtype(v);
      if (!dt) fail(token, "unknown dtype '" + printable(v, 40) + "' (f64, f32, f16, bf16)");
      (key == "dt" ? p.dtype : p.pdtype) = *dt;
    } else if (key == "dir") {
      if (v == "fwd_train" || v == "train")
        p.dir = Direction::fwd_train;
      else if (v == "fwd_infer" || v == "infer")
        p.dir = Direction::fwd_infer;
      else if (v == "bwd")
        p.dir = Direction::bwd;
      else
        fail(token, "direction is fwd_train, fwd_infer or bwd");
    } else if (key == "eps") {
      p.eps = parse_double(token, v);
      if (!(p.eps >= 0) || !std::isfinite(p.eps)) fail(token, "eps must be finite and >= 0");
    } else if (key == "mom") {
      p.momentum = parse_double(token, v);
      if (!(p.momentum >= 0 && p.momentum <= 1)) fail(token, "momentum must be in [0, 1]");
    } else if (key == "affine") {
      if (v == "1" || v == "true")
        p.affine = true;
      else if (v == "0" || v == "false")
        p.affine = false;
      else
        fail(token, "affine is 0 or 1");
    } else if (key == "fill") {
      p.fill = parse_fill(token, v);
    } else if (key == "seed") {  // any 64-bit unsigned integer, as --seed takes
      const auto r = std::from_chars(v.data(), v.data() + v.size(), p.seed);
      if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size())
        fail(token, "'" + printable(v, 60) + "' is not an integer from 0 to 18446744073709551615");
    } else if (key == "rvar") {
      if (v == "unbiased")
        p.conv.running_var = RunningVar::unbiased;
      else if (v == "biased")
        p.conv.running_var = RunningVar::biased;
      else
        fail(token, "rvar is unbiased or biased");
    } else if (key == "momdir") {
      if (v == "new")
        p.conv.momentum_dir = MomentumDir::new_stat;
      else if (v == "old")
        p.conv.momentum_dir = MomentumDir::old_stat;
      else
        fail(token, "momdir is new or old");
    } else if (key == "save") {
      if (v == "invstd")
        p.conv.saved = SavedStat::invstd;
      else if (v == "var")
        p.conv.saved = SavedStat::variance;
      else
        fail(token, "save is invstd or var");
    } else if (key == "poison") {
      const size_t at = v.find('@');
      if (at == std::string_view::npos) fail(token, "poison is KIND@CHANNEL, e.g. nan@2");
      const std::string_view k = v.substr(0, at);
      if (k == "nan")
        p.poison.kind = PoisonKind::nan;
      else if (k == "inf" || k == "+inf")
        p.poison.kind = PoisonKind::pinf;
      else if (k == "-inf")
        p.poison.kind = PoisonKind::ninf;
      else if (k == "none")
        p.poison.kind = PoisonKind::none;
      else
        fail(token, "poison kind is nan, inf or -inf");
      p.poison.channel = parse_int(token, v.substr(at + 1), 0, kMaxDim);
    } else if (key == "split") {
      p.split.clear();
      const auto parts = split(v, ':');
      if (static_cast<int64_t>(parts.size()) > kMaxSplit)
        fail(token, "at most " + std::to_string(kMaxSplit) + " slices");
      for (auto part : parts) p.split.push_back(parse_int(token, part, 0, kMaxDim));
    } else {
      fail(token, "unknown key '" + printable(key, 40) + "'");
    }
  }
  if (!have_n && p.n == 0) throw DescriptorError("descriptor '" + printable(desc, 200) + "' lacks n=");
  if (!have_c && p.c == 0) throw DescriptorError("descriptor '" + printable(desc, 200) + "' lacks c=");
  // Element count must fit in 63 bits; whether it fits in memory is decided at run time.
  long double total = static_cast<long double>(p.n) * p.c;
  for (int i = 0; i < p.rank; ++i) total *= p.spatial[i];
  if (total > static_cast<long double>(int64_t{1} << 62))
    throw DescriptorError("descriptor '" + printable(desc, 200) + "' has more than 2^62 elements");
  if (!p.split.empty()) {
    if (p.dir != Direction::fwd_train)
      throw DescriptorError("descriptor '" + printable(desc, 200) + "': split= is for dir=fwd_train");
    int64_t sum = 0;
    for (int64_t k : p.split) sum += k;  // each <= 2^40, at most 4096 of them: no overflow
    if (sum != p.n)
      throw DescriptorError("descriptor '" + printable(desc, 200) + "': the slices of split= hold " +
                            std::to_string(sum) + " samples, n=" + std::to_string(p.n));
  }
  if (p.poison.kind != PoisonKind::none && p.poison.channel >= p.c)
    throw DescriptorError("descriptor '" + printable(desc, 200) + "': poisoned channel " +
                          std::to_string(p.poison.channel) + " does not exist (c=" + std::to_string(p.c) + ")");
  return p;
}

void fit_split(Problem& p) {
  if (p.split.empty()) return;
  if (p.dir != Direction::fwd_train) {
    p.split.clear();
    return;
  }
  int64_t held = 0;
  for (int64_t k : p.split) held += k;
  for (size_t i = p.split.size(); held > p.n && i-- > 0;) {
    const int64_t take = std::min(p.split[i], held - p.n);
    p.split[i] -= take;
    held -= take;
  }
  if (held < p.n) p.split.back() += p.n - held;
}

Conventions parse_conventions(std::string_view text) {
  Conventions c;
  if (text.empty()) return c;
  std::set<std::string_view> keys;
  for (std::string_view token : split(text, ',')) {
    const size_t eq = token.find('=');
    if (eq == std::string_view::npos) fail(token, "expected key=value");
    const std::string_view key = token.substr(0, eq), v = token.substr(eq + 1);
    if (!keys.insert(key).second) fail(token, "key '" + printable(key, 40) + "' given twice");
    auto choose = [&](bool* out, const char* no, const char* yes) {
      if (v == no)
        *out = false;
      else if (v == yes)
        *out = true;
      else
        fail(token, std::string(printable(key, 40)) + " is " + no + " or " + yes);
    };
    bool b = false;
    if (key == "rvar") {
      choose(&b, "unbiased", "biased");
      c.running_var = b ? RunningVar::biased : RunningVar::unbiased;
    } else if (key == "momdir") {
      choose(&b, "new", "old");
      c.momentum_dir = b ? MomentumDir::old_stat : MomentumDir::new_stat;
    } else if (key == "save") {
      choose(&b, "invstd", "var");
      c.saved = b ? SavedStat::variance : SavedStat::invstd;
    } else if (key == "running") {
      choose(&b, "none", "kept");
      c.keeps_running = b;
    } else if (key == "zero_var_invstd") {
      choose(&c.zero_var_invstd_is_zero, "inf", "0");
    } else if (key == "eps") {
      choose(&c.eps_float, "double", "float");
    } else if (key == "m1_rvar") {
      choose(&c.single_element_biased, "nan", "biased");
    } else {
      fail(token, "unknown convention '" + printable(key, 40) +
                      "' (rvar, momdir, save, running, zero_var_invstd, eps, m1_rvar)");
    }
  }
  return c;
}

}  // namespace bncheck
