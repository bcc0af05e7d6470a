#include "harness/file_protocol.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "api/text.hpp"
#include "harness/case_data.hpp"
#include "harness/case_files.hpp"
#include "harness/json.hpp"
#include "harness/json_read.hpp"

namespace bncheck {

namespace {

namespace fs = std::filesystem;

constexpr const char* kFormat = "bncheck-case";
constexpr int kFormatVersion = 1;

bool per_element(const std::string& name) { return name == "y" || name == "dx" || name == "x" || name == "dy"; }

// The inputs of p, in the order problem.json lists them.
std::vector<std::string> input_names(const Problem& p) {
  std::vector<std::string> v{"x"};
  if (p.dir == Direction::bwd) v.push_back("dy");
  if (p.affine) {
    v.push_back("gamma");
    v.push_back("beta");
  }
  if (p.dir == Direction::bwd) {
    v.push_back("save_mean");
    v.push_back("save_stat");
  } else {
    v.push_back("running_mean");
    v.push_back("running_var");
  }
  return v;
}

template <class Data>  // CaseData or const CaseData
auto input_of(Data& d, const std::string& name) -> decltype(&d.x) {
  if (name == "x") return &d.x;
  if (name == "dy") return &d.dy;
  if (name == "gamma") return &d.gamma;
  if (name == "beta") return &d.beta;
  if (name == "running_mean") return &d.running_mean;
  if (name == "running_var") return &d.running_var;
  if (name == "save_mean") return &d.save_mean;
  return &d.save_stat;
}

const char* numpy_dtype(Dtype dt) {
  switch (dt) {
    case Dtype::f64: return "float64";
    case Dtype::f32: return "float32";
    case Dtype::f16: return "float16";
    case Dtype::bf16: return "float32";  // widened exactly; outputs must be bf16 values
  }
  return "float32";
}

const char* direction_name(Direction d) {
  return d == Direction::fwd_train ? "fwd_train" : d == Direction::fwd_infer ? "fwd_infer" : "bwd";
}

std::string full_conventions(const Conventions& c) {
  return std::string("rvar=") + (c.running_var == RunningVar::unbiased ? "unbiased" : "biased") +
         ",momdir=" + (c.momentum_dir == MomentumDir::new_stat ? "new" : "old") +
         ",save=" + (c.saved == SavedStat::invstd ? "invstd" : "var") +
         ",running=" + (c.keeps_running ? "kept" : "none") +
         ",zero_var_invstd=" + (c.zero_var_invstd_is_zero ? "0" : "inf") +
         ",eps=" + (c.eps_float ? "float" : "double") + ",m1_rvar=" + (c.single_element_biased ? "biased" : "nan");
}

}  // namespace

std::vector<std::pair<std::string, std::string>> expected_outputs(const Problem& p, const Conventions& conv) {
  std::vector<std::string> names;
  if (p.dir == Direction::fwd_train) {
    names = {"y", "save_mean", "save_stat"};
    if (conv.keeps_running) {
      names.push_back("running_mean");
      names.push_back("running_var");
    }
  } else if (p.dir == Direction::fwd_infer) {
    names = {"y"};
  } else {
    names = {"dx"};
    if (p.affine) {
      names.push_back("dgamma");
      names.push_back("dbeta");
    }
  }
  std::vector<std::pair<std::string, std::string>> v;
  v.reserve(names.size());
  for (const auto& n : names) v.emplace_back(n, "out_" + n + ".npy");
  return v;
}

Result<std::string> write_generated_case(const std::string& dir, const Problem& p, const Conventions& conv) {
  using R = Result<std::string>;
  std::error_code ec;
  if (fs::exists(dir, ec)) return R::failure(printable(dir) + " exists already (gen never overwrites a case)");
  const fs::path parent = fs::path(dir).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec || !fs::create_directory(dir, ec))
    return R::failure("cannot create " + printable(dir) + (ec ? ": " + ec.message() : ""));
  // A backward's saved statistics are the reference's under conv, correctly rounded.
  CaseData generated = make_case_data(p);
  std::unique_ptr<CaseRunner::Impl> impl;
  const CaseData* d = &generated;
  if (p.dir == Direction::bwd) {
    impl = std::make_unique<CaseRunner::Impl>(p, std::move(generated));
    d = &impl->data_for(conv);
  }
  const std::vector<int64_t> ds = data_shape(p), cs{p.c};
  std::string failed;
  json::Writer j;
  j.begin_object();
  j.key("format").value(kFormat);
  j.key("version").value(kFormatVersion);
  j.key("problem").value(to_string(p));
  j.key("direction").value(direction_name(p.dir));
  j.key("layout").value(p.layout == Layout::channels_first ? "N,C,spatial..." : "N,spatial...,C");
  j.key("shape").begin_array();
  for (int64_t s : ds) j.value(static_cast<long long>(s));
  j.end_array();
  j.key("channel_axis").value(p.layout == Layout::channels_first ? 1 : p.rank + 1);
  j.key("dtype").value(dtype_name(p.dtype));
  j.key("pdtype").value(dtype_name(p.pdtype));
  j.key("npy_dtype").value(numpy_dtype(p.dtype));
  j.key("npy_pdtype").value(numpy_dtype(p.pdtype));
  j.key("eps").value(effective_eps(p.eps, conv));
  j.key("eps_dtype").value(conv.eps_float ? "f32" : "f64");
  j.key("momentum").value(p.momentum);
  j.key("affine").value(p.affine);
  // Every convention spelled out (parse_conventions reads it back), and what each means.
  j.key("conventions").value(full_conventions(conv));
  j.key("meaning").begin_object();
  j.key("rvar").value(conv.running_var == RunningVar::unbiased ? "running_var is updated with var * M / (M - 1)"
                                                               : "running_var is updated with var");
  j.key("momdir").value(conv.momentum_dir == MomentumDir::new_stat ? "new = (1 - momentum) * old + momentum * stat"
                                                                   : "new = momentum * old + (1 - momentum) * stat");
  j.key("save").value(conv.saved == SavedStat::invstd ? "save_stat is 1 / sqrt(var + eps)"
                                                      : "save_stat is var (biased)");
  j.key("running").value(conv.keeps_running ? "write the updated running_mean and running_var"
                                            : "running statistics are not written");
  j.key("zero_var_invstd")
      .value(conv.zero_var_invstd_is_zero ? "var + eps = 0 saves invstd 0" : "var + eps = 0 saves invstd inf");
  j.key("eps").value(conv.eps_float ? "eps is rounded to float first (the eps field is that value)"
                                    : "eps is used as the double in the eps field");
  j.key("m1_rvar").value(conv.single_element_biased ? "M = 1 updates running_var with the biased var (0)"
                                                    : "M = 1 updates running_var with NaN (0/0)");
  j.end_object();
  j.key("inputs").begin_object();
  for (const auto& name : input_names(p)) {
    const Tensor& t = *input_of(*d, name);
    const auto w = write_npy(dir + "/" + name + ".npy", t, per_element(name) ? ds : cs);
    if (!w && failed.empty()) failed = w.error();
    j.key(name).value(name + ".npy");
  }
  j.end_object();
  j.key("outputs").begin_object();
  for (const auto& [name, file] : expected_outputs(p, conv)) j.key(name).value(file);
  j.end_object();
  j.key("note").value(
      "write each output as a C-order .npy of npy_dtype (y, dx: shape; the others: [C]); bf16 values are stored "
      "widened exactly to float32 and outputs must be bf16 values");
  j.end_object();
  std::ofstream f(dir + "/problem.json");
  f << j.str() << "\n";
  f.close();
  if (!f && failed.empty()) failed = "cannot write " + printable(dir) + "/problem.json";
  if (!failed.empty()) return R::failure(failed);
  return dir;
}

GeneratedCase read_generated_case(const std::string& dir) {
  const std::string where = printable(dir) + "/problem.json: ";
  const auto j = json::parse(read_file(dir + "/problem.json", 1 << 20));
  if (!j) throw DescriptorError(where + j.error());
  if (j->get_string("format").value_or("") != kFormat) throw DescriptorError(where + "not a bncheck gen case");
  const json::Value* version = j->get("version");
  if (!version || version->kind != json::Value::Kind::number || version->num != kFormatVersion)
    throw DescriptorError(where + "format version " + std::to_string(kFormatVersion) + " expected");
  const auto desc = j->get_string("problem");
  if (!desc) throw DescriptorError(where + "no \"problem\" descriptor");
  GeneratedCase g;
  g.dir = dir;
  g.problem = parse_problem(*desc);
  g.conv = parse_conventions(j->get_string("conventions").value_or(""));
  const Problem& p = g.problem;
  const size_t E = static_cast<size_t>(p.elements()), C = static_cast<size_t>(p.c);
  // The inputs the implementation read, from the files (a backward's saved statistics
  // are the reference's again: the runner derives them).
  for (const auto& name : input_names(p)) {
    if (name == "save_mean" || name == "save_stat") continue;
    const Dtype dt = per_element(name) ? p.dtype : p.pdtype;
    *input_of(g.data, name) = read_npy(dir + "/" + name + ".npy", dt, per_element(name) ? E : C);
  }
  if (p.dir == Direction::fwd_train && g.data.running_mean.empty()) throw DescriptorError(where + "no running_mean");
  return g;
}

std::vector<std::string> generated_case_dirs(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw DescriptorError(printable(root) + ": not a directory");
  if (fs::exists(fs::path(root) / "problem.json", ec)) return {root};
  std::vector<std::string> dirs;
  for (const auto& e : fs::directory_iterator(root, ec))
    if (e.is_directory() && fs::exists(e.path() / "problem.json")) dirs.push_back(e.path().string());
  if (ec) throw DescriptorError("cannot list " + printable(root) + ": " + ec.message());
  if (dirs.empty()) throw DescriptorError(printable(root) + ": no problem.json in it or its subdirectories");
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

Numerics default_file_numerics(const Problem& p) {
  Numerics n;
  n.accumulation_bits = n.compute_bits = std::max(format_info(p.dtype).p, 24);
  return n;
}

Numerics FileBackend::numerics(const Problem& p) const { return numerics_ ? *numerics_ : default_file_numerics(p); }

Status FileBackend::read_into(const Problem& p, const std::vector<std::pair<std::string, void*>>& outs) const {
  const size_t E = static_cast<size_t>(p.elements()), C = static_cast<size_t>(p.c);
  for (const auto& [name, file] : expected_outputs(p, conv_)) {
    void* dst = nullptr;
    for (const auto& [n, ptr] : outs)
      if (n == name) dst = ptr;
    if (!dst) continue;
    const std::string path = dir_ + "/" + file;
    std::error_code ec;
    if (!fs::exists(path, ec))
      return Status::error(printable(file) + " is missing: the implementation did not write " + name);
    const bool elem = per_element(name);
    const Dtype dt = elem ? p.dtype : p.pdtype;
    try {
      const Tensor t = read_npy(path, dt, elem ? E : C);
      std::memcpy(dst, t.data(), t.size() * static_cast<size_t>(format_info(dt).bytes));
    } catch (const DescriptorError& e) {
      return Status::error(e.what());
    }
  }
  return Status::success();
}

Status FileBackend::forward_training(const Problem& p, const ForwardTrainingArgs& a) {
  return read_into(p, {{"y", a.y},
                       {"save_mean", a.save_mean},
                       {"save_stat", a.save_stat},
                       {"running_mean", a.running_mean},
                       {"running_var", a.running_var}});
}

Status FileBackend::forward_inference(const Problem& p, const ForwardInferenceArgs& a) {
  return read_into(p, {{"y", a.y}});
}

Status FileBackend::backward(const Problem& p, const BackwardArgs& a) {
  return read_into(p, {{"dx", a.dx}, {"dgamma", a.dgamma}, {"dbeta", a.dbeta}});
}

}  // namespace bncheck
