// oneDNN CPU batch normalization (v2 API: batch_normalization_forward/backward with
// use_scale/use_shift). Our buffers are handed over in place (nchw/nhwc-family tags).
// Conventions: oneDNN saves the biased variance and keeps no running statistics;
// statistics and scale/shift are f32, epsilon is a float.
#include <oneapi/dnnl/dnnl.hpp>

#include "common/backend_module.hpp"
#include "cpu/cpu_common.hpp"

namespace bncheck::cpu {
namespace {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

tag layout_tag(const Problem& p) {
  const bool cf = p.layout == Layout::channels_first;
  switch (p.rank) {
    case 0: return tag::nc;
    case 1: return cf ? tag::ncw : tag::nwc;
    case 2: return cf ? tag::nchw : tag::nhwc;
    default: return cf ? tag::ncdhw : tag::ndhwc;
  }
}

dt data_type(Dtype d) {
  switch (d) {
    case Dtype::f32: return dt::f32;
    case Dtype::f16: return dt::f16;
    case Dtype::bf16: return dt::bf16;
    default: return dt::undef;
  }
}

dnnl::memory::desc data_md(const Problem& p) {
  dnnl::memory::dims dims{p.n, p.c};
  for (int i = 0; i < p.rank; ++i) dims.push_back(p.spatial[i]);
  return dnnl::memory::desc(dims, data_type(p.dtype), layout_tag(p));
}

dnnl::memory::desc stat_md(const Problem& p) { return dnnl::memory::desc({p.c}, dt::f32, tag::x); }

dnnl::normalization_flags affine_flags(const Problem& p) {
  return p.affine ? dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift
                  : dnnl::normalization_flags::none;
}

class OneDnn final : public Backend {
 public:
  OneDnn() : eng_(dnnl::engine::kind::cpu, 0), strm_(eng_) {}
  std::string name() const override { return "onednn_cpu"; }
  std::string description() const override {
    const dnnl_version_t* v = dnnl_version();
    return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
           " CPU batch_normalization (declared: f32 arithmetic, flushes denormal outputs; float epsilon; saves biased variance, no running stats)";
  }
  Support supports(const Problem& p) const override {
    if (p.dtype == Dtype::f64) return Support::no("oneDNN has no f64 batch normalization");
    if (p.pdtype != Dtype::f32) return Support::no("oneDNN keeps statistics and scale/shift in f32 (pdt=f32 only)");
    try {
      auto fwd = forward_pd(
          p, p.dir == Direction::fwd_infer ? dnnl::prop_kind::forward_inference : dnnl::prop_kind::forward_training);
      if (p.dir == Direction::bwd) backward_pd(p, fwd);
    } catch (const dnnl::error& e) {
      return Support::no(std::string("oneDNN: ") + e.what());
    }
    return Support::yes();
  }
  Conventions conventions(const Problem& p) const override {
    Conventions c = p.conv;
    c.saved = SavedStat::variance;
    c.running_var = RunningVar::biased;
    c.keeps_running = false;
    return c;
  }
  Numerics numerics(const Problem&) const override {
    Numerics n;
    n.accumulation_bits = n.compute_bits = 24;
    n.stats = StatsAlgorithm::unknown;
    n.flush_denormals = true;  // observed: subnormal outputs come back as 0 (docs/findings.md, F7)
    return n;
  }

  Status forward_training(const Problem& p, const ForwardTrainingArgs& a) override {
    return guarded([&] {
      auto pd = forward_pd(p, dnnl::prop_kind::forward_training);
      std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, mem(data_md(p), a.x)},
                                                 {DNNL_ARG_DST, mem(data_md(p), a.y)},
                                                 {DNNL_ARG_MEAN, mem(stat_md(p), a.save_mean)},
                                                 {DNNL_ARG_VARIANCE, mem(stat_md(p), a.save_stat)}};
      if (p.affine) {
        args.emplace(DNNL_ARG_SCALE, mem(stat_md(p), a.gamma));
        args.emplace(DNNL_ARG_SHIFT, mem(stat_md(p), a.beta));
      }
      dnnl::batch_normalization_forward(pd).execute(strm_, args);
      strm_.wait();
    });
  }

  Status forward_inference(const Problem& p, const ForwardInferenceArgs& a) override {
    return guarded([&] {
      auto pd = forward_pd(p, dnnl::prop_kind::forward_inference);
      std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, mem(data_md(p), a.x)},
                                                 {DNNL_ARG_DST, mem(data_md(p), a.y)},
                                                 {DNNL_ARG_MEAN, mem(stat_md(p), a.running_mean)},
                                                 {DNNL_ARG_VARIANCE, mem(stat_md(p), a.running_var)}};
      if (p.affine) {
        args.emplace(DNNL_ARG_SCALE, mem(stat_md(p), a.gamma));
        args.emplace(DNNL_ARG_SHIFT, mem(stat_md(p), a.beta));
      }
      dnnl::batch_normalization_forward(pd).execute(strm_, args);
      strm_.wait();
    });
  }

  Status backward(const Problem& p, const BackwardArgs& a) override {
    return guarded([&] {
      auto fwd = forward_pd(p, dnnl::prop_kind::forward_training);
      auto pd = backward_pd(p, fwd);
      std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, mem(data_md(p), a.x)},
                                                 {DNNL_ARG_DIFF_DST, mem(data_md(p), a.dy)},
                                                 {DNNL_ARG_MEAN, mem(stat_md(p), a.save_mean)},
                                                 {DNNL_ARG_VARIANCE, mem(stat_md(p), a.save_stat)},
                                                 {DNNL_ARG_DIFF_SRC, mem(data_md(p), a.dx)}};
      if (p.affine) {
        args.emplace(DNNL_ARG_SCALE, mem(stat_md(p), a.gamma));
        // oneDNN 2.x's backward with use_shift validates a shift argument that the
        // gradient does not read: hand it a zero buffer.
        shift_.assign(static_cast<size_t>(p.c), 0.0f);
        args.emplace(DNNL_ARG_SHIFT, mem(stat_md(p), shift_.data()));
        args.emplace(DNNL_ARG_DIFF_SCALE, mem(stat_md(p), a.dgamma));
        args.emplace(DNNL_ARG_DIFF_SHIFT, mem(stat_md(p), a.dbeta));
      }
      dnnl::batch_normalization_backward(pd).execute(strm_, args);
      strm_.wait();
    });
  }

 private:
  dnnl::batch_normalization_forward::primitive_desc forward_pd(const Problem& p, dnnl::prop_kind k) const {
    auto flags = affine_flags(p);
    if (k == dnnl::prop_kind::forward_inference) flags = flags | dnnl::normalization_flags::use_global_stats;
    dnnl::batch_normalization_forward::desc d(k, data_md(p), static_cast<float>(p.eps), flags);
    return {d, eng_};
  }
  dnnl::batch_normalization_backward::primitive_desc backward_pd(
      const Problem& p, const dnnl::batch_normalization_forward::primitive_desc& hint) const {
    dnnl::batch_normalization_backward::desc d(p.affine ? dnnl::prop_kind::backward : dnnl::prop_kind::backward_data,
                                               data_md(p), data_md(p), static_cast<float>(p.eps), affine_flags(p));
    return {d, eng_, hint};
  }
  dnnl::memory mem(const dnnl::memory::desc& md, const void* ptr) const {
    return dnnl::memory(md, eng_, const_cast<void*>(ptr));
  }
  template <class F>
  static Status guarded(F&& f) {
    try {
      f();
      return Status::success();
    } catch (const dnnl::error& e) {
      return Status::error(std::string("oneDNN: ") + e.what());
    }
  }

  dnnl::engine eng_;
  mutable dnnl::stream strm_;
  std::vector<float> shift_;
};

}  // namespace

std::unique_ptr<Backend> make_onednn_cpu() { return std::make_unique<OneDnn>(); }

}  // namespace bncheck::cpu

BNCHECK_BACKEND_MODULE(bncheck_module_onednn_cpu, bncheck::cpu::make_onednn_cpu)
