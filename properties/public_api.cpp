// The public face of the properties (include/bncheck/properties.hpp, rapidcheck.hpp).
#include <stdexcept>

#include "bncheck/properties.hpp"
#include "properties/generators.hpp"
#include "properties/properties.hpp"

namespace bncheck {

rc::Gen<Problem> property_problems();  // declared in bncheck/rapidcheck.hpp (which needs GoogleTest)

namespace {

const props::Property& named(const std::string& name) {
  const props::Property* p = props::find(name);
  if (!p) throw std::invalid_argument("unknown property '" + name + "' (bncheck props --list)");
  return *p;
}

}  // namespace

std::vector<std::string> property_names() {
  std::vector<std::string> v;
  for (const auto& p : props::all()) v.emplace_back(p.name);
  return v;
}

PropertyOutcome check_property(const std::string& name, Backend* b, const Problem& p, uint64_t aux) {
  const props::Property& prop = named(name);
  const props::Result r = prop.check(b, props::effective_problem(prop, p), aux);
  return {r.applicable, r.holds, r.message};
}

Problem property_problem(const std::string& name, const Problem& p) { return props::effective_problem(named(name), p); }

rc::Gen<Problem> property_problems() { return props::gen_problem(); }

}  // namespace bncheck
