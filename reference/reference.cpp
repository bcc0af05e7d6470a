#include "reference/reference.hpp"

#include <atomic>

#include "reference/bnorm_ref.hpp"
#include "reference/ref_real.hpp"

namespace bncheck {

namespace {
std::atomic<ReferenceMode> g_mode{ReferenceMode::fast};
}  // namespace

void set_reference_mode(ReferenceMode m) { g_mode = m; }
ReferenceMode reference_mode() { return g_mode; }
Reference compute_reference_selected(const Problem& p, const Conventions& conv, const CaseData& d) {
  return reference_mode() == ReferenceMode::slow ? compute_reference(p, conv, d) : compute_reference_fast(p, conv, d);
}

using Real512 =
    boost::multiprecision::number<boost::multiprecision::cpp_bin_float<512, boost::multiprecision::digit_base_2>,
                                  boost::multiprecision::et_off>;

Reference compute_reference(const Problem& p, const Conventions& conv, const CaseData& d) {
  return ref::compute<Real256>(p, conv, d);
}

Reference compute_reference_bin512(const Problem& p, const Conventions& conv, const CaseData& d) {
  return ref::compute<Real512>(p, conv, d);
}

double full_chain_backward_discrepancy(const Problem& p, const Conventions&, const CaseData& d) {
  using std::abs;
  Real256 worst_diff = 0, scale = 0;
  for (int64_t c = 0; c < p.c; ++c) {
    const auto x = ref::channel_values<Real256>(p, d.x, c, nullptr);
    const auto dy = ref::channel_values<Real256>(p, d.dy, c, nullptr);
    const Real256 g(p.affine ? d.gamma.get(c) : 1.0);
    const auto a = ref::full_chain_dx(x, dy, g, p.eps), b = ref::simplified_dx(x, dy, g, p.eps);
    // Relative to the size of dx's terms, |gamma| r |dy|: dx itself can vanish (M = 2).
    const auto st = ref::channel_stats(x, p.eps, Conventions{});
    for (size_t i = 0; i < a.size(); ++i) {
      worst_diff = std::max(worst_diff, Real256(abs(a[i] - b[i])));
      scale = std::max(scale, Real256(abs(g) * st.invstd * abs(dy[i])));
    }
  }
  return scale > 0 ? ref::to_double(Real256(worst_diff / scale)) : ref::to_double(worst_diff);
}

void finite_difference_dx(const Problem& p, const CaseData& d, std::vector<double>* hi, std::vector<double>* lo) {
  using std::abs;
  using std::ldexp;
  using std::sqrt;
  hi->assign(static_cast<size_t>(p.elements()), 0.0);
  lo->assign(static_cast<size_t>(p.elements()), 0.0);
  Conventions conv;
  for (int64_t c = 0; c < p.c; ++c) {
    std::vector<size_t> idx;
    auto x = ref::channel_values<Real256>(p, d.x, c, &idx);
    const auto dy = ref::channel_values<Real256>(p, d.dy, c, nullptr);
    const Real256 g(p.affine ? d.gamma.get(c) : 1.0);
    // L(x) = sum dy * y(x); beta drops out of the difference.
    auto loss = [&](const std::vector<Real256>& xs) {
      const auto st = ref::channel_stats(xs, p.eps, conv);
      Real256 L = 0;
      for (size_t i = 0; i < xs.size(); ++i) L += dy[i] * g * ref::xhat(xs[i], st);
      return L;
    };
    const auto st = ref::channel_stats(x, p.eps, conv);
    const Real256 sigma = sqrt(st.var);
    for (size_t i = 0; i < x.size(); ++i) {
      const Real256 h = ldexp(abs(x[i]) + sigma + Real256(1e-300), -80);
      const Real256 keep = x[i];
      x[i] = keep + h;
      const Real256 up = loss(x);
      x[i] = keep - h;
      const Real256 down = loss(x);
      x[i] = keep;
      const Real256 g = (up - down) / (2 * h);
      (*hi)[idx[i]] = ref::to_double(g);
      (*lo)[idx[i]] = ref::to_double(Real256(g - Real256((*hi)[idx[i]])));
    }
  }
}

double exact_sum(const std::vector<double>& v) {
  Real512 s = 0;
  for (double x : v) s += Real512(x);
  return ref::to_double(s);
}

}  // namespace bncheck
