#include "harness/module_backend.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

namespace bncheck {

namespace {

std::string program_dir() {
  std::vector<char> buf(4096);
  const ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) return "";
  const std::string path(buf.data(), static_cast<size_t>(n));
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

std::vector<std::string> module_dirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("BNCHECK_MODULE_DIR"); env && *env) dirs.emplace_back(env);
  if (const std::string exe = program_dir(); !exe.empty()) {
    dirs.push_back(exe + "/modules");
    dirs.push_back(exe + "/../lib/bncheck");
  }
#ifdef BNCHECK_MODULE_BUILD_DIR
  dirs.emplace_back(BNCHECK_MODULE_BUILD_DIR);
#endif
#ifdef BNCHECK_MODULE_INSTALL_DIR
  dirs.emplace_back(BNCHECK_MODULE_INSTALL_DIR);
#endif
  return dirs;
}

class ModuleBackend final : public Backend {
 public:
  ModuleBackend(std::string name, std::string file, std::string entry)
      : name_(std::move(name)), file_(std::move(file)), entry_(std::move(entry)) {}

  std::string name() const override { return name_; }
  std::string description() const override {
    const Backend* b = get();
    return b ? b->description() : "(module " + file_ + " not loaded)";
  }
  bool weak() const override {
    const Backend* b = get();
    return b && b->weak();
  }
  Availability availability() const override {
    const Backend* b = get();
    if (!b) return {false, error_};
    return b->availability();
  }
  std::vector<std::string> repro_options() const override {
    const Backend* b = get();
    return b ? b->repro_options() : std::vector<std::string>{};
  }
  Support supports(const Problem& p) const override {
    const Backend* b = get();
    return b ? b->supports(p) : Support::no(error_);
  }
  Conventions conventions(const Problem& p) const override {
    const Backend* b = get();
    return b ? b->conventions(p) : p.conv;
  }
  Numerics numerics(const Problem& p) const override {
    const Backend* b = get();
    return b ? b->numerics(p) : Numerics{};
  }
  std::optional<DeviceTiming> time_on_device(const Problem& p, int warmup, int reps) override {
    Backend* b = get();
    return b ? b->time_on_device(p, warmup, reps) : std::nullopt;
  }
  Status forward_training(const Problem& p, const ForwardTrainingArgs& a) override {
    Backend* b = get();
    return b ? b->forward_training(p, a) : Status::error(error_);
  }
  Status forward_inference(const Problem& p, const ForwardInferenceArgs& a) override {
    Backend* b = get();
    return b ? b->forward_inference(p, a) : Status::error(error_);
  }
  Status backward(const Problem& p, const BackwardArgs& a) override {
    Backend* b = get();
    return b ? b->backward(p, a) : Status::error(error_);
  }
  SplitKind split_kind() const override {
    const Backend* b = get();
    return b ? b->split_kind() : SplitKind::none;
  }
  Status local_stats(const Problem& slice, const LocalStatsArgs& a) override {
    Backend* b = get();
    return b ? b->local_stats(slice, a) : Status::error(error_);
  }
  Status merge_stats(const Problem& p, const MergeStatsArgs& a) override {
    Backend* b = get();
    return b ? b->merge_stats(p, a) : Status::error(error_);
  }
  Status apply_stats(const Problem& slice, const ApplyStatsArgs& a) override {
    Backend* b = get();
    return b ? b->apply_stats(slice, a) : Status::error(error_);
  }

 private:
  // The loaded backend, or null with error_ set; loaded once, on first use.
  Backend* get() const {
    std::call_once(once_, [this] { load(); });
    return loaded_.get();
  }
  void load() const {
    for (const std::string& dir : module_dirs()) {
      const std::string path = dir + "/" + file_;
      if (access(path.c_str(), F_OK) != 0) continue;
      void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);  // never closed: its code outlives every call
      if (!h) {
        const char* why = dlerror();
        error_ = "cannot load " + path + ": " + (why ? why : "unknown dlopen error");
        return;
      }
      using Entry = Backend* (*)();
      auto* make = reinterpret_cast<Entry>(dlsym(h, entry_.c_str()));
      if (!make) {
        error_ = path + " has no entry point " + entry_;
        return;
      }
      try {
        loaded_.reset(make());
      } catch (const std::exception& e) {
        error_ = path + " failed to make the backend " + name_ + ": " + e.what();
        return;
      } catch (...) {
        error_ = path + " failed to make the backend " + name_;
        return;
      }
      if (!loaded_ || loaded_->name() != name_) {
        error_ = path + " does not make the backend " + name_;
        loaded_.reset();
      }
      return;
    }
    error_ = "module " + file_ + " not found (set BNCHECK_MODULE_DIR to its folder)";
  }

  std::string name_, file_, entry_;
  mutable std::once_flag once_;
  mutable std::unique_ptr<Backend> loaded_;
  mutable std::string error_;
};

}  // namespace

std::unique_ptr<Backend> make_module_backend(std::string name, std::string file, std::string entry) {
  return std::make_unique<ModuleBackend>(std::move(name), std::move(file), std::move(entry));
}

}  // namespace bncheck
