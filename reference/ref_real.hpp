// The reference's working precision.
#pragma once

#include <boost/multiprecision/cpp_bin_float.hpp>

namespace bncheck {

// 256 significand bits: every intermediate of the definitions carries ~2^-256 relative
// error, far below the 2^-54 needed to round f64 results correctly except for values
// within 2^-200 of a rounding boundary.
using Real256 =
    boost::multiprecision::number<boost::multiprecision::cpp_bin_float<256, boost::multiprecision::digit_base_2>,
                                  boost::multiprecision::et_off>;

}  // namespace bncheck
