// The reference's backward, one finite channel: dbeta = sum dy, dgamma = sum dy xhat,
// dx = gamma r / M (M dy - dbeta - xhat dgamma), each rounded once.
#pragma once

#include "reference/ref_common.hpp"

namespace bncheck::ref {

template <class Real>
void backward_channel(const Problem& p, const CaseData& d, int64_t c, const ChannelInput<Real>& in,
                      const Stats<Real>& st, bool singular, Reference& R) {
  using std::abs;
  ChannelRef& cr = R.channel[c];
  // dgamma = r sum dy (M x - S) / M: the sum exact (moderate ranges), then two roundings.
  Real dbeta = 0, centred = 0, sad = 0, sadx = 0;
  const Real Ms(st.m);
  std::vector<Real> xh(in.idx.size()), dys(in.idx.size());
  for (size_t k = 0; k < in.idx.size(); ++k) {
    xh[k] = xhat(in.xs[k], st);
    dys[k] = Real(d.dy.get(in.idx[k]));
    dbeta += dys[k];
    centred += dys[k] * (Ms * in.xs[k] - st.sum);
    sad += abs(dys[k]);
    sadx += abs(dys[k] * xh[k]);
  }
  Real dgamma = st.invstd * (centred / Ms);
  if (st.invstd_inf) {  // IEEE semantics of the sum of dy xhat (xhat infinite or NaN); marked below
    dgamma = 0;
    for (size_t k = 0; k < in.idx.size(); ++k) dgamma += dys[k] * xh[k];
  }
  cr.dbeta = to_double(dbeta);
  cr.dgamma = to_double(dgamma);
  cr.sum_abs_dy = to_double(sad);
  cr.sum_abs_dy_xhat = to_double(sadx);
  if (p.affine) {
    put(R.dbeta, c, dbeta);
    put(R.dgamma, c, dgamma);
  }
  const Real Mr(static_cast<double>(p.reduction_size()));
  const Real scale = Real(gamma_of(p, d, c)) * invstd_or_inf(st) / Mr;
  for (size_t k = 0; k < in.idx.size(); ++k) {
    put(R.dx, in.idx[k], scale * (Mr * dys[k] - dbeta - xh[k] * dgamma));
    if (singular) R.dx.mark(in.idx[k], RefTensor::kAnyValue);
  }
  if (singular && p.affine) R.dgamma.mark(c, RefTensor::kAnyValue);
}

}  // namespace bncheck::ref
