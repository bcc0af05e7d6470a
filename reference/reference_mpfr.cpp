// The reference at 512 bits through MPFR: an independent arithmetic library for the
// self-consistency test. Compiled only when MPFR is found.
#include <boost/multiprecision/mpfr.hpp>

#include "reference/bnorm_ref.hpp"

namespace bncheck {

using Mpfr512 = boost::multiprecision::number<boost::multiprecision::mpfr_float_backend<155>,
                                              boost::multiprecision::et_off>;  // 155 digits ~ 515 bits

bool have_mpfr_reference() { return true; }

Reference compute_reference_mpfr512(const Problem& p, const Conventions& conv, const CaseData& d) {
  return ref::compute<Mpfr512>(p, conv, d);
}

}  // namespace bncheck
