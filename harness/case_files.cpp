#include "harness/case_files.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/text.hpp"
#include "harness/json.hpp"
#include "harness/json_read.hpp"

namespace bncheck {

std::vector<int64_t> data_shape(const Problem& p) {
  std::vector<int64_t> s{p.n};
  if (p.layout == Layout::channels_first) s.push_back(p.c);
  for (int i = 0; i < p.rank; ++i) s.push_back(p.spatial[i]);
  if (p.layout == Layout::channels_last) s.push_back(p.c);
  return s;
}

namespace {

Result<Done> write_npy_raw(const std::string& path, const char* descr, const std::vector<int64_t>& shape,
                           const void* data, size_t bytes) {
  std::string sh = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    sh += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  sh += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + sh + ", }";
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  if (!f) return Result<Done>::failure("cannot create " + printable(path));
  const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  f.write(reinterpret_cast<const char*>(magic), 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  f.put(static_cast<char>(len & 0xFF));
  f.put(static_cast<char>(len >> 8));
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  f.close();
  if (!f) return Result<Done>::failure("cannot write " + printable(path));
  return Done{};
}

const char* npy_descr(Dtype dt) {
  switch (dt) {
    case Dtype::f64: return "<f8";
    case Dtype::f32: return "<f4";
    case Dtype::f16: return "<f2";
    case Dtype::bf16: return "<f4";  // numpy has no bf16: widened exactly
  }
  return "<f4";
}

Result<Done> write_npy_bits(const std::string& path, Dtype dt, size_t n, const std::vector<int64_t>& shape,
                            uint64_t (*bits_at)(const void*, size_t), const void* ctx) {
  if (dt == Dtype::bf16) {
    std::vector<float> w(n);
    for (size_t i = 0; i < n; ++i) w[i] = static_cast<float>(bits_to_double(bits_at(ctx, i), dt));
    return write_npy_raw(path, "<f4", shape, w.data(), n * 4);
  }
  const size_t b = static_cast<size_t>(format_info(dt).bytes);
  std::vector<unsigned char> raw(n * b);
  for (size_t i = 0; i < n; ++i) store_bits(raw.data(), dt, i, bits_at(ctx, i));
  return write_npy_raw(path, npy_descr(dt), shape, raw.data(), raw.size());
}

}  // namespace

Result<Done> write_npy(const std::string& path, const Tensor& t, const std::vector<int64_t>& shape) {
  return write_npy_bits(
      path, t.dtype(), t.size(), shape,
      [](const void* ctx, size_t i) { return static_cast<const Tensor*>(ctx)->bits(i); }, &t);
}

Result<Done> write_npy(const std::string& path, const RefTensor& t, const std::vector<int64_t>& shape) {
  return write_npy_bits(
      path, t.dtype, t.size(), shape,
      [](const void* ctx, size_t i) { return static_cast<const RefTensor*>(ctx)->rounded[i]; }, &t);
}

Result<std::string> save_case(const std::string& parent, const std::string& stem, CaseRunner& runner,
                              const CaseReport& report, const CaseOutputs& outputs, const std::string& repro) {
  using R = Result<std::string>;
  namespace fs = std::filesystem;
  if (stem.empty() || stem.find('/') != std::string::npos || stem == "." || stem == "..")
    return R::failure("invalid case directory name '" + printable(stem) + "'");
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) return R::failure("cannot create " + printable(parent) + ": " + ec.message());
  std::string dir;
  for (int k = 1;; ++k) {  // create_directory is atomic: the first to create it owns it
    dir = parent + "/" + stem + (k > 1 ? "-" + std::to_string(k) : "");
    if (fs::create_directory(dir, ec)) break;
    if (ec || k > 10000) return R::failure("cannot create " + printable(dir) + (ec ? ": " + ec.message() : ""));
  }
  const Problem& p = runner.problem();
  const CaseData& d = runner.impl().data_for(report.conv);
  const std::vector<int64_t> ds = data_shape(p), cs{p.c};
  std::string failed;  // the first file that could not be written
  auto keep = [&](const Result<Done>& r) {
    if (!r && failed.empty()) failed = r.error();
  };
  std::vector<std::string> files;
  auto in = [&](const char* name, const Tensor& t, const std::vector<int64_t>& shape) {
    if (t.empty()) return;
    keep(write_npy(dir + "/" + name + ".npy", t, shape));
    files.push_back(std::string(name) + ".npy");
  };
  in("x", d.x, ds);
  in("dy", d.dy, ds);
  in("gamma", d.gamma, cs);
  in("beta", d.beta, cs);
  in("running_mean_in", d.running_mean, cs);
  in("running_var_in", d.running_var, cs);
  in("save_mean_in", d.save_mean, cs);
  in("save_stat_in", d.save_stat, cs);
  const Reference& ref = runner.impl().reference(report.conv);
  const std::pair<const char*, const RefTensor*> refs[] = {{"y", &ref.y},
                                                           {"save_mean", &ref.save_mean},
                                                           {"save_stat", &ref.save_stat},
                                                           {"running_mean", &ref.running_mean},
                                                           {"running_var", &ref.running_var},
                                                           {"dx", &ref.dx},
                                                           {"dgamma", &ref.dgamma},
                                                           {"dbeta", &ref.dbeta}};
  for (const auto& [name, t] : refs) {
    if (t->empty() || !outputs.find(name)) continue;
    const bool per_elem = std::string(name) == "y" || std::string(name) == "dx";
    keep(write_npy(dir + "/ref_" + name + ".npy", *t, per_elem ? ds : cs));
    keep(write_npy(dir + "/impl_" + name + ".npy", *outputs.find(name), per_elem ? ds : cs));
    files.push_back(std::string("ref_") + name + ".npy");
    files.push_back(std::string("impl_") + name + ".npy");
  }
  json::Writer j;
  j.begin_object();
  j.key("problem").value(to_string(p));
  j.key("backend").value(report.backend);
  j.key("conventions").value(to_string(report.conv));
  j.key("verdict").value(to_string(report.verdict));
  j.key("message").value(report.message);
  j.key("layout").value(p.layout == Layout::channels_first ? "N,C,spatial..." : "N,spatial...,C");
  j.key("dtype").value(dtype_name(p.dtype));
  j.key("pdtype").value(dtype_name(p.pdtype));
  j.key("note").value("bf16 tensors are stored widened (exactly) to f32; ref_* are correctly rounded");
  j.key("repro").value(repro);
  j.key("files").begin_array();
  for (const auto& f : files) j.value(f);
  j.end_array();
  j.end_object();
  std::ofstream f(dir + "/case.json");
  f << j.str() << "\n";
  f.close();
  if (!f && failed.empty()) failed = "cannot write " + printable(dir) + "/case.json";
  if (!failed.empty()) return R::failure(failed + " (the case under " + printable(dir) + " is incomplete)");
  return dir;
}

std::string read_file(const std::string& path, size_t max_bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw DescriptorError("cannot read " + printable(path));
  std::string bytes;
  char buf[1 << 16];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    bytes.append(buf, static_cast<size_t>(f.gcount()));
    if (bytes.size() > max_bytes) throw DescriptorError(printable(path) + " is larger than the case allows");
  }
  return bytes;
}

// Reads a .npy written by write_npy into a tensor of dtype dt with n elements: the
// stored type must be dt's (bf16: f32 values that are exactly bf16).
Tensor read_npy(const std::string& path, Dtype dt, size_t n) {
  const size_t b = static_cast<size_t>(format_info(dt).bytes);
  const std::string bytes = read_file(path, 4096 + n * std::max<size_t>(b, 4));
  const std::string what = printable(path) + ": ";
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw DescriptorError(what + "not a .npy file");
  const size_t hlen =
      static_cast<unsigned char>(bytes[8]) | (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
  if (bytes[6] != 1 || 10 + hlen > bytes.size()) throw DescriptorError(what + "unsupported .npy version or header");
  const std::string header = bytes.substr(10, hlen);
  const char* want = dt == Dtype::bf16 ? "<f4" : dt == Dtype::f64 ? "<f8" : dt == Dtype::f32 ? "<f4" : "<f2";
  if (header.find(std::string("'descr': '") + want + "'") == std::string::npos)
    throw DescriptorError(what + "expected dtype " + want + " for " + dtype_name(dt) + " data");
  if (header.find("'fortran_order': False") == std::string::npos)
    throw DescriptorError(what + "Fortran order is not supported");
  const size_t stored = dt == Dtype::bf16 ? 4 : b;
  if (bytes.size() - 10 - hlen != n * stored)
    throw DescriptorError(what + "holds " + std::to_string((bytes.size() - 10 - hlen) / stored) +
                          " values, the problem needs " + std::to_string(n));
  const char* data = bytes.data() + 10 + hlen;
  Tensor t(dt, n);
  if (dt == Dtype::bf16) {
    for (size_t i = 0; i < n; ++i) {
      float f;
      std::memcpy(&f, data + 4 * i, 4);
      t.set(i, f);
      if (!(static_cast<float>(t.get(i)) == f) && !(f != f))
        throw DescriptorError(what + "value " + std::to_string(i) + " is not a bf16 value");
    }
  } else {
    std::memcpy(t.data(), data, n * b);
  }
  return t;
}

SavedCase load_case(const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) throw DescriptorError("--case " + printable(dir) + ": not a directory");
  const auto j = json::parse(read_file(dir + "/case.json", 1 << 20));
  if (!j) throw DescriptorError(printable(dir) + "/case.json: " + j.error());
  const auto desc = j->get_string("problem");
  if (!desc) throw DescriptorError(printable(dir) + "/case.json: no \"problem\" descriptor");
  SavedCase sc;
  sc.problem = parse_problem(*desc);
  sc.backend = j->get_string("backend").value_or("");
  sc.verdict = j->get_string("verdict").value_or("");
  const Problem& p = sc.problem;
  const size_t E = static_cast<size_t>(p.elements()), C = static_cast<size_t>(p.c);
  // Generated data first (running statistics and any input not saved), then the files.
  sc.data = make_case_data(p);
  auto load = [&](const char* name, Tensor* t, Dtype dt, size_t n, bool required) {
    const std::string f = dir + "/" + name + ".npy";
    if (!fs::exists(f)) {
      if (required) throw DescriptorError(printable(dir) + ": " + name + ".npy is missing");
      return;
    }
    *t = read_npy(f, dt, n);
  };
  load("x", &sc.data.x, p.dtype, E, true);
  if (p.dir == Direction::bwd) load("dy", &sc.data.dy, p.dtype, E, true);
  if (p.affine) {
    load("gamma", &sc.data.gamma, p.pdtype, C, true);
    load("beta", &sc.data.beta, p.pdtype, C, true);
  }
  load("running_mean_in", &sc.data.running_mean, p.pdtype, C, false);
  load("running_var_in", &sc.data.running_var, p.pdtype, C, false);
  return sc;
}

}  // namespace bncheck
