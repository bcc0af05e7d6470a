#include "properties/driver.hpp"

#include <vector>

#include "harness/rng.hpp"
#include "properties/generators.hpp"

namespace bncheck::props {

namespace {
uint64_t mix(uint64_t z) { return splitmix64(z); }

Result check_safely(const Property& prop, Backend* b, const Problem& p, uint64_t aux) {
  try {
    return prop.check(b, p, aux);
  } catch (const std::exception& e) {
    Result r;
    r.holds = false;
    r.message = std::string("exception: ") + e.what();
    return r;
  }
}
// The generated problem in the property's direction, moved where the backend can run
// it: a backend that declines it (an inference-only or an f32-only implementation) is
// given the same shape in another direction the property accepts, then with f32 data
// and parameters, before the case counts as not applicable. Deterministic, so a
// shrunk case is fitted the same way.
Problem fitted(const Property& prop, Backend* b, const Problem& generated) {
  Problem p = effective_problem(prop, generated);
  if (!b || b->supports(p).supported) return p;
  std::vector<Problem> tries;
  for (Direction d : {Direction::fwd_train, Direction::bwd, Direction::fwd_infer}) {
    Problem q = generated;
    q.dir = d;
    q = effective_problem(prop, q);
    if (q.dir == d && d != p.dir) tries.push_back(q);
  }
  for (size_t i = 0, n = tries.size() + 1; i < n; ++i) {
    Problem q = i == 0 ? p : tries[i - 1];
    q.dtype = q.pdtype = Dtype::f32;
    tries.push_back(q);
  }
  for (const Problem& q : tries)
    if (b->supports(q).supported) return q;
  return p;
}
}  // namespace

Campaign run_property(const Property& prop, Backend* b, int cases, uint64_t seed) {
  Campaign c;
  const rc::Gen<Problem> gen = gen_problem();
  uint64_t prop_key = 0;
  for (const char* s = prop.name; *s; ++s) prop_key = mix(prop_key ^ static_cast<unsigned char>(*s));
  for (int i = 0; i < cases; ++i) {
    const uint64_t key = mix(seed ^ prop_key ^ mix(static_cast<uint64_t>(i)));
    const int size = cases > 1 ? i * 100 / (cases - 1) : 0;
    rc::Shrinkable<Problem> sh = gen(rc::Random(key), size);
    const uint64_t aux = mix(key + 1);
    Result r = check_safely(prop, b, fitted(prop, b, sh.value()), aux);
    ++c.cases;
    if (!r.applicable) continue;
    ++c.applicable;
    for (const auto& n : r.notes) ++c.notes[n];
    if (r.holds) continue;
    // Shrink: take the first simpler problem that still fails, until none does.
    c.failed = true;
    c.aux = aux;
    c.minimal = fitted(prop, b, sh.value());
    c.message = r.message;
    for (bool progress = true; progress && c.shrink_steps < 200;) {
      progress = false;
      auto shrinks = sh.shrinks();
      while (auto next = shrinks.next()) {
        const Problem q = fitted(prop, b, next->value());
        const Result rr = check_safely(prop, b, q, aux);
        if (rr.applicable && !rr.holds) {
          sh = *next;
          c.minimal = q;
          c.message = rr.message;
          ++c.shrink_steps;
          progress = true;
          break;
        }
      }
    }
    break;
  }
  return c;
}

}  // namespace bncheck::props
