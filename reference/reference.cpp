#include "reference/reference.hpp"

#include <boost/multiprecision/cpp_bin_float.hpp>

#include "reference/bnorm_ref.hpp"

namespace bncheck {

// 256 significand bits: every intermediate of the definitions above carries ~2^-256
// relative error, far below the 2^-54 needed to round f64 results correctly except
// for values within 2^-200 of a rounding boundary.
using Real256 = boost::multiprecision::number<
    boost::multiprecision::cpp_bin_float<256, boost::multiprecision::digit_base_2>,
    boost::multiprecision::et_off>;
using Real512 = boost::multiprecision::number<
    boost::multiprecision::cpp_bin_float<512, boost::multiprecision::digit_base_2>,
    boost::multiprecision::et_off>;

Reference compute_reference(const Problem& p, const Conventions& conv, const CaseData& d) {
  return ref::compute<Real256>(p, conv, d);
}

Reference compute_reference_bin512(const Problem& p, const Conventions& conv, const CaseData& d) {
  return ref::compute<Real512>(p, conv, d);
}

}  // namespace bncheck
