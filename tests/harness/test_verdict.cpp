// The verdict logic against planted faults: each wrapped backend is the correct
// two-pass one with one thing broken, and must get the verdict that names it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "bncheck/backend.hpp"
#include "harness/case_files.hpp"
#include "harness/runner.hpp"
#include "harness/split.hpp"

using namespace bncheck;

namespace {

std::unique_ptr<Backend> builtin(const std::string& name) {
  for (auto& b : make_builtin_backends())
    if (b->name() == name) return std::move(b);
  return nullptr;
}

enum class Fault {
  none,
  mean_one_ulp,
  wrong_running_var_convention,
  leaves_y_unwritten,
  writes_past_y,
  returns_error,
  declares_biased,
  unsupported,
  dx_scaled,
  y_one_ulp,
  y_one_ulp_late,  // the third-to-last element of y
  throws,
};

class Planted final : public Backend {
 public:
  explicit Planted(Fault f) : f_(f), inner_(builtin("cpu_two_pass")) {}
  std::string name() const override { return "planted"; }
  std::string description() const override { return "cpu_two_pass with a planted fault"; }
  Support supports(const Problem& p) const override {
    return f_ == Fault::unsupported ? Support::no("planted: nothing is supported") : inner_->supports(p);
  }
  Conventions conventions(const Problem& p) const override {
    Conventions c = p.conv;
    if (f_ == Fault::declares_biased) c.running_var = RunningVar::biased;
    return c;
  }
  Numerics numerics(const Problem& p) const override { return inner_->numerics(p); }
  Status forward_training(const Problem& p, const ForwardTrainingArgs& a) override {
    if (f_ == Fault::returns_error) return Status::error("planted: out of cheese");
    if (f_ == Fault::throws) throw std::runtime_error("planted: thrown");
    Problem q = p;
    if (f_ == Fault::wrong_running_var_convention) q.conv.running_var = RunningVar::biased;  // undeclared
    Status s = inner_->forward_training(q, a);
    const size_t E = static_cast<size_t>(p.elements());
    if (f_ == Fault::mean_one_ulp) {
      const double m = load_as_double(a.save_mean, p.pdtype, 0);
      store_rounded(a.save_mean, p.pdtype, 0, m + ulp(m, p.pdtype));
    }
    if (f_ == Fault::y_one_ulp) {
      const double y = load_as_double(a.y, p.dtype, 5);
      store_rounded(a.y, p.dtype, 5, y + ulp(y, p.dtype));
    }
    if (f_ == Fault::y_one_ulp_late) {
      const double y = load_as_double(a.y, p.dtype, E - 3);
      store_rounded(a.y, p.dtype, E - 3, y + ulp(y, p.dtype));
    }
    if (f_ == Fault::leaves_y_unwritten) store_bits(a.y, p.dtype, E / 2, sentinel_bits(p.dtype));
    if (f_ == Fault::writes_past_y) static_cast<unsigned char*>(a.y)[E * format_info(p.dtype).bytes + 3] = 0;
    return s;
  }
  Status forward_inference(const Problem& p, const ForwardInferenceArgs& a) override {
    return inner_->forward_inference(p, a);
  }
  Status backward(const Problem& p, const BackwardArgs& a) override {
    Status s = inner_->backward(p, a);
    if (f_ == Fault::dx_scaled) {
      const double v = load_as_double(a.dx, p.dtype, 1);
      store_rounded(a.dx, p.dtype, 1, v * (1 + 1e-3));
    }
    return s;
  }

 private:
  Fault f_;
  std::unique_ptr<Backend> inner_;
};

CaseReport run(Fault f, const std::string& desc) {
  Planted b(f);
  CaseRunner r(parse_problem(desc));
  return r.run(b);
}

const TensorReport* tensor(const CaseReport& r, const std::string& name) {
  for (const auto& t : r.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const char* kTrain = "n=4,c=3,sp=5x5";

}  // namespace

TEST(Verdict, CorrectBackendPasses) {
  EXPECT_EQ(run(Fault::none, kTrain).verdict, Verdict::pass);
  EXPECT_EQ(run(Fault::none, "n=4,c=3,sp=5x5,dir=bwd").verdict, Verdict::pass);
}

TEST(Verdict, MeanOneUlpOffFails) {
  for (const char* d : {kTrain, "n=4,c=3,sp=5x5,dt=f64,pdt=f64", "n=4,c=3,sp=4x4,fill=exact:3:0.25"}) {
    const CaseReport r = run(Fault::mean_one_ulp, d);
    EXPECT_EQ(r.verdict, Verdict::fail) << d;
    ASSERT_NE(tensor(r, "save_mean"), nullptr);
    EXPECT_EQ(tensor(r, "save_mean")->failures, 1u) << d;
    EXPECT_EQ(tensor(r, "save_mean")->worst, 0u);
    EXPECT_NEAR(tensor(r, "save_mean")->max_ulp, 1.0, 0.5) << d;
  }
}

// The budget of a backend that accumulates in f64 is about half an ULP of y: one ULP
// off fails. This pins the budgets' tightness (a loosened budget would let it pass).
TEST(Verdict, YOneUlpOffFailsWhenAccumulationIsPrecise) {
  for (const char* d : {kTrain, "n=4,c=3,sp=5x5,dt=f16", "n=4,c=3,sp=5x5,dt=bf16,layout=cl"}) {
    const CaseReport r = run(Fault::y_one_ulp, d);
    EXPECT_EQ(r.verdict, Verdict::fail) << d;
    EXPECT_EQ(tensor(r, "y")->failures, 1u) << d;
    EXPECT_EQ(tensor(r, "y")->worst, 5u) << d;
    EXPECT_GT(tensor(r, "y")->max_ratio, 1.5) << d;
  }
}

TEST(Verdict, UndeclaredRunningVarConventionFails) {
  const CaseReport r = run(Fault::wrong_running_var_convention, kTrain);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_EQ(tensor(r, "running_var")->failures, 3u);
  EXPECT_EQ(tensor(r, "y")->failures, 0u);
}

TEST(Verdict, DeclaredConventionIsNotAFailure) {
  const CaseReport r = run(Fault::declares_biased, kTrain);
  EXPECT_EQ(r.verdict, Verdict::pass);
  EXPECT_EQ(r.conv.running_var, RunningVar::biased);
}

TEST(Verdict, UnwrittenOutput) {
  const CaseReport r = run(Fault::leaves_y_unwritten, kTrain);
  EXPECT_EQ(r.verdict, Verdict::unwritten);
  EXPECT_EQ(tensor(r, "y")->unwritten, 1u);
  EXPECT_NE(r.message.find("left unwritten"), std::string::npos);
  EXPECT_TRUE(is_failure(r.verdict));
}

TEST(Verdict, OutOfBoundsWrite) {
  const CaseReport r = run(Fault::writes_past_y, kTrain);
  EXPECT_EQ(r.verdict, Verdict::oob_write);
  EXPECT_NE(r.message.find("offset " + std::to_string(4 * 3 * 25 * 4 + 3)), std::string::npos) << r.message;
}

TEST(Verdict, ReportedErrorIsError) {
  const CaseReport r = run(Fault::returns_error, kTrain);
  EXPECT_EQ(r.verdict, Verdict::error);
  EXPECT_EQ(r.message, "planted: out of cheese");
  EXPECT_TRUE(is_failure(r.verdict));
}

// A backend that throws does not take the harness down: the case is an ERROR.
TEST(Verdict, ThrowingBackendIsAnErrorNotADeath) {
  const CaseReport r = run(Fault::throws, kTrain);
  EXPECT_EQ(r.verdict, Verdict::error);
  EXPECT_EQ(r.message, "exception: planted: thrown");
  EXPECT_EQ(r.backend, "planted");
}

TEST(Verdict, ReproLineQuotesTheDescriptor) {
  const Problem p = parse_problem("n=2,c=3");
  Planted b(Fault::none);
  EXPECT_EQ(repro_line("build/bncheck", b, p), "build/bncheck run --backend planted --problem '" + to_string(p) + "'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
}

TEST(Verdict, UnsupportedIsNeitherPassNorFailure) {
  const CaseReport r = run(Fault::unsupported, kTrain);
  EXPECT_EQ(r.verdict, Verdict::unsupported);
  EXPECT_FALSE(is_failure(r.verdict));
  EXPECT_NE(r.verdict, Verdict::pass);
}

TEST(Verdict, BackwardErrorFoundAtItsElement) {
  const CaseReport r = run(Fault::dx_scaled, "n=4,c=3,sp=5x5,dir=bwd");
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_EQ(tensor(r, "dx")->failures, 1u);
  EXPECT_EQ(tensor(r, "dx")->worst, 1u);
}

TEST(Verdict, DegenerateOutputsAreMistrusted) {
  // var + eps = 0: every output is NaN, so agreement proves little.
  const CaseReport r = run(Fault::none, "n=4,c=3,sp=3,fill=const:2,eps=0");
  EXPECT_EQ(r.verdict, Verdict::mistrusted);
  EXPECT_FALSE(is_failure(r.verdict));
}

// --save-failures: the files load as .npy with the right header and values.
TEST(Save, WritesLoadableNpy) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "bncheck_test_save";
  fs::remove_all(dir);
  Planted b(Fault::mean_one_ulp);
  CaseRunner runner(parse_problem("n=2,c=3,sp=4x5,layout=cl"));
  CaseOutputs out;
  const CaseReport r = runner.run(b, &out);
  const auto written = save_case(dir.parent_path().string(), dir.filename().string(), runner, r, out, "repro-line");
  ASSERT_TRUE(written) << written.error();
  ASSERT_EQ(*written, dir.string());
  for (const char* f : {"x.npy", "gamma.npy", "beta.npy", "ref_y.npy", "impl_y.npy", "ref_save_mean.npy",
                        "impl_save_mean.npy", "case.json"})
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  std::ifstream in(dir / "x.npy", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  ASSERT_EQ(bytes.substr(0, 6), "\x93NUMPY");
  const size_t hlen = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ((10 + hlen) % 64, 0u);
  const std::string header = bytes.substr(10, hlen);
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
  EXPECT_NE(header.find("'shape': (2,4,5,3)"), std::string::npos) << header;  // channels-last
  ASSERT_EQ(bytes.size(), 10 + hlen + 2 * 3 * 20 * 4);
  float first;
  std::memcpy(&first, bytes.data() + 10 + hlen, 4);
  EXPECT_EQ(first, static_cast<float>(runner.data().x.get(0)));
  std::ifstream js(dir / "case.json");
  std::string json((std::istreambuf_iterator<char>(js)), {});
  EXPECT_NE(json.find("\"verdict\":\"FAIL\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"repro\":\"repro-line\""), std::string::npos);
  fs::remove_all(dir);
}

// Budgets and comparisons run on the reference's threads for large tensors: the same
// report, field for field, for any number of threads (the worst element included).
TEST(Verdict, AnyThreadCountGivesTheSameReport) {
  auto b = builtin("cpu_one_pass_naive");
  for (const char* desc : {"n=8,c=3,sp=64x70,dt=f16,dir=fwd_train,fill=normal:300:1",
                           "n=4,c=5,sp=80x70,layout=cl,dir=bwd,fill=normal:100:1"}) {
    const Problem p = parse_problem(desc);
    std::vector<CaseReport> reps;
    for (int threads : {1, 3}) {
      set_reference_threads(threads);
      CaseRunner r(p);
      reps.push_back(r.run(*b));
    }
    set_reference_threads(0);
    ASSERT_EQ(reps[0].tensors.size(), reps[1].tensors.size()) << desc;
    EXPECT_EQ(reps[0].verdict, reps[1].verdict) << desc;
    for (size_t k = 0; k < reps[0].tensors.size(); ++k) {
      const TensorReport &a = reps[0].tensors[k], &t = reps[1].tensors[k];
      if (k == 0) {
        EXPECT_GT(a.count, size_t{1} << 16) << desc;
      }
      EXPECT_EQ(a.failures, t.failures) << desc << " " << a.name;
      EXPECT_EQ(a.degenerate, t.degenerate) << desc << " " << a.name;
      EXPECT_EQ(a.worst, t.worst) << desc << " " << a.name;
      EXPECT_EQ(a.max_ratio, t.max_ratio) << desc << " " << a.name;
      EXPECT_EQ(a.max_ulp, t.max_ulp) << desc << " " << a.name;
      EXPECT_EQ(a.median_ulp, t.median_ulp) << desc << " " << a.name;
      EXPECT_EQ(a.worst_budget, t.worst_budget) << desc << " " << a.name;
    }
  }
}

// A forward too large for the whole-tensor reference is checked streamed (here forced on
// small tensors by set_streaming, parts of one, two or every row): the same report as the
// whole-tensor check, field for field, but for the median error, which is the lower end
// of its histogram bin (2^-11 relative). A one-ULP fault in the last part is found at its
// index, and a channel the streamed reference cannot take is SKIPPED, never a pass.
TEST(Verdict, StreamedCheckGivesTheWholeTensorReport) {
  struct Case {
    std::string backend;
    Fault fault;
    const char* desc;
  };
  const std::vector<Case> cases = {
      {"cpu_one_pass_naive", Fault::none, "n=7,c=3,sp=9x5,dt=f16,fill=normal:300:1"},
      {"cpu_welford", Fault::none, "n=5,c=4,sp=6x7,layout=cl,fill=normal:1e4:1"},
      {"cpu_two_pass", Fault::none, "n=6,c=2,sp=5x3,dt=f64,pdt=f64,fill=normal:-3:1e-3"},
      {"cpu_one_pass_naive", Fault::none, "n=9,c=3,sp=4x4,dt=bf16,dir=fwd_infer"},
      {"cpu_welford", Fault::none, "n=4,c=2,sp=3x3,fill=const:0.75,eps=0"},
      {"cpu_one_pass_naive", Fault::none, "n=6,c=3,sp=4x4,dir=fwd_infer,poison=inf@2"},
      {"", Fault::y_one_ulp_late, "n=6,c=3,sp=5x5,dt=f16"},
      {"", Fault::y_one_ulp, "n=6,c=3,sp=5x5,layout=cl"},
  };
  for (const Case& k : cases) {
    std::unique_ptr<Backend> b = k.backend.empty() ? std::make_unique<Planted>(k.fault) : builtin(k.backend);
    const Problem p = parse_problem(k.desc);
    set_streaming(int64_t{1} << 27, int64_t{1} << 22);
    CaseRunner whole_runner(p);
    const CaseReport whole = whole_runner.run(*b);
    for (const int64_t rows : {int64_t{1}, int64_t{2}, p.n}) {
      set_streaming(0, rows * p.c * p.spatial_size());
      ASSERT_TRUE(checked_streamed(p));
      CaseRunner r(p);
      const CaseReport s = r.run(*b);
      const std::string what = std::string(k.desc) + " rows " + std::to_string(rows);
      EXPECT_EQ(whole.verdict, s.verdict) << what << ": " << s.message;
      EXPECT_EQ(whole.message, s.message) << what;
      EXPECT_EQ(whole.reference_elements, s.reference_elements) << what;
      // A constant channel evaluates its one value at 256 bits once per part.
      if (std::string(k.desc).find("const") == std::string::npos) {
        EXPECT_EQ(whole.reference_slow_elements, s.reference_slow_elements) << what;
      }
      ASSERT_EQ(whole.tensors.size(), s.tensors.size()) << what;
      for (size_t t = 0; t < s.tensors.size(); ++t) {
        const TensorReport &a = whole.tensors[t], &c = s.tensors[t];
        EXPECT_EQ(a.name, c.name) << what;
        EXPECT_EQ(a.count, c.count) << what << " " << a.name;
        EXPECT_EQ(a.failures, c.failures) << what << " " << a.name;
        EXPECT_EQ(a.degenerate, c.degenerate) << what << " " << a.name;
        EXPECT_EQ(a.worst, c.worst) << what << " " << a.name;
        auto same = [](double u, double v) { return u == v || (std::isnan(u) && std::isnan(v)); };
        EXPECT_TRUE(same(a.max_ratio, c.max_ratio)) << what << " " << a.name;
        EXPECT_TRUE(same(a.max_ulp, c.max_ulp)) << what << " " << a.name;
        EXPECT_TRUE(same(a.worst_budget, c.worst_budget)) << what << " " << a.name;
        EXPECT_TRUE(same(a.worst_got, c.worst_got)) << what << " " << a.name;
        EXPECT_TRUE(c.median_ulp <= a.median_ulp && c.median_ulp >= a.median_ulp * (1 - 0x1p-11))
            << what << " " << a.name << " " << c.median_ulp << " " << a.median_ulp;
      }
    }
    set_streaming(int64_t{1} << 27, int64_t{1} << 22);
    if (k.fault == Fault::y_one_ulp_late) {
      ASSERT_EQ(whole.verdict, Verdict::fail);
      EXPECT_EQ(tensor(whole, "y")->worst, static_cast<size_t>(p.elements() - 3));
    }
  }
  set_streaming(0, 64);
  Planted b(Fault::none);
  CaseRunner r(parse_problem("n=6,c=3,sp=4x4,poison=nan@1"));
  const CaseReport s = r.run(b);
  set_streaming(int64_t{1} << 27, int64_t{1} << 22);
  EXPECT_EQ(s.verdict, Verdict::skipped) << s.message;
  EXPECT_NE(s.message.find("channel 1"), std::string::npos) << s.message;
}

// A budget prepared ahead (the fuzz campaign's preparing thread) gives the report the
// run's own budget gives, and is used by that run: a budget prepared for other numerics
// is not.
TEST(Verdict, BudgetsPreparedAheadGiveTheSameReport) {
  auto b = builtin("cpu_one_pass_naive");
  for (const char* desc : {"n=4,c=3,sp=9x5,dt=f16,fill=normal:300:1", "n=4,c=3,sp=5x5,dir=bwd"}) {
    const Problem p = parse_problem(desc);
    Problem bp = p;
    bp.conv = b->conventions(p);
    CaseRunner plain(p), ahead(p), other(p);
    const CaseReport want = plain.run(*b);
    ahead.impl().prepare_budget(bp, case_numerics(*b, bp));
    const CaseReport got = ahead.run(*b);
    Numerics loose = case_numerics(*b, bp);
    loose.accumulation_bits = 8;  // a far larger budget, were it used
    other.impl().prepare_budget(bp, loose);
    const CaseReport unused = other.run(*b);
    for (const CaseReport* r : {&got, &unused}) {
      ASSERT_EQ(r->tensors.size(), want.tensors.size()) << desc;
      EXPECT_EQ(r->verdict, want.verdict) << desc;
      for (size_t t = 0; t < want.tensors.size(); ++t) {
        EXPECT_EQ(r->tensors[t].worst_budget, want.tensors[t].worst_budget) << desc << " " << want.tensors[t].name;
        EXPECT_EQ(r->tensors[t].max_ratio, want.tensors[t].max_ratio) << desc << " " << want.tensors[t].name;
      }
    }
  }
}
