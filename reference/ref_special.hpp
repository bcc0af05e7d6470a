// The reference for a channel holding a non-finite x (or dy, in backward): IEEE
// evaluation in double of what the definitions give (bnorm_ref.hpp lists the cases),
// with the outputs whose kind of special value depends on evaluation order marked as
// accepting any non-finite value.
#pragma once

#include "reference/ref_common.hpp"

namespace bncheck::ref {

template <class Real>
void poisoned_channel(const Problem& p, const Conventions& conv, const CaseData& d, int64_t c,
                      const ChannelInput<Real>& in, Reference& R) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const int64_t M = p.reduction_size();
  ChannelRef& cr = R.channel[c];
  bool x_bad = false;
  double xsum = 0;
  for (size_t k = 0; k < in.idx.size(); ++k) {
    const double xv = d.x.get(in.idx[k]);
    x_bad |= !std::isfinite(xv);
    xsum += xv;
  }
  const double mu = x_bad ? xsum / static_cast<double>(M) : to_double(channel_stats(in.xs, p.eps, conv).mean);
  cr.mean = mu;
  cr.var = cr.invstd = cr.rms = nan;
  put_double(R.save_mean, c, mu);
  put_double(R.save_stat, c, nan);
  if (p.dir == Direction::fwd_train) {
    for (size_t k = 0; k < in.idx.size(); ++k) put_double(R.y, in.idx[k], nan);
    const double w_new = conv.momentum_dir == MomentumDir::new_stat ? p.momentum : 1 - p.momentum;
    put_double(R.running_mean, c, (1 - w_new) * d.running_mean.get(c) + w_new * mu);
    put_double(R.running_var, c, nan);
    // The mean of a channel holding an infinity is +-Inf as a sum, NaN through
    // Welford's updates (Inf - Inf): both honest, so any non-finite value is right.
    for (RefTensor* t : {&R.save_mean, &R.running_mean}) t->mark(c, RefTensor::kAnyNonFinite);
  } else if (x_bad) {
    for (size_t k = 0; k < in.idx.size(); ++k) put_double(R.dx, in.idx[k], nan);
    Real dbeta = 0;
    bool dy_bad = false;
    double dsum = 0;
    for (size_t k = 0; k < in.idx.size(); ++k) {
      const double v = d.dy.get(in.idx[k]);
      dy_bad |= !std::isfinite(v);
      dsum += v;
      dbeta += Real(v);
    }
    if (p.affine) {
      put_double(R.dgamma, c, nan);
      if (dy_bad)
        put_double(R.dbeta, c, dsum);
      else
        put(R.dbeta, c, dbeta);
    }
  } else {
    // x finite, dy not: the saved statistics are finite; dbeta and dgamma are IEEE sums.
    const Stats<Real> st = channel_stats(in.xs, p.eps, conv);
    put(R.save_mean, c, st.mean);
    if (conv.saved == SavedStat::invstd)
      put(R.save_stat, c, invstd_or_inf(st));
    else
      put(R.save_stat, c, st.var);
    double db = 0, dg = 0;
    for (size_t k = 0; k < in.idx.size(); ++k) {
      const double dyv = d.dy.get(in.idx[k]);
      db += dyv;
      dg += dyv * to_double(xhat(in.xs[k], st));
    }
    if (p.affine) {
      put_double(R.dgamma, c, dg);
      put_double(R.dbeta, c, db);
    }
    for (size_t k = 0; k < in.idx.size(); ++k) {
      put_double(R.dx, in.idx[k], nan);
      R.dx.mark(in.idx[k], RefTensor::kAnyNonFinite);
    }
  }
}

}  // namespace bncheck::ref
