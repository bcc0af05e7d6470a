#include <stdexcept>

#include "reference/reference.hpp"

namespace bncheck {

bool have_mpfr_reference() { return false; }

Reference compute_reference_mpfr512(const Problem&, const Conventions&, const CaseData&) {
  throw std::runtime_error("bncheck was built without MPFR");
}

}  // namespace bncheck
