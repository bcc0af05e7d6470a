// ---- split equivalence (distributed BN) --------------------------------------------------
// SyncBN computes a batch's statistics from K ranks' local statistics. Any split of the
// batch into K consecutive slices (K from 1 to 64, uneven, with empty slices and slices
// of one sample) must give the whole batch's outputs: y, the saved and the running
// statistics of the split run and of the whole-batch run agree within the sum of their
// budgets (docs/error-model.md, "Split statistics"). The classic merge bugs (means
// averaged without their counts, an empty rank counted as a sample, a count-1 rank's
// variance taken as NaN) move the statistics by far more than any budget.
#include "properties/generators.hpp"
#include "properties/support.hpp"

namespace bncheck::props::detail {

Result split_equivalence(Backend* b, const Problem& p0, uint64_t aux) {
  if (b && b->split_kind() == SplitKind::none) return Result::skip("no split-statistics entry points");
  Problem p = p0;
  p.split.clear();
  uint64_t z = aux;
  // Enough samples for uneven slices: n from 1 to 96, the rest of the shape shrunk to fit.
  p.n = 1 + static_cast<int64_t>((z = mix(z)) % 96);
  while (p.elements() > kMaxGeneratedElements) {
    if (p.rank > 0)
      p.spatial[--p.rank] = 1;
    else if (p.c > 1)
      p.c = (p.c + 1) / 2;
    else
      p.n = (p.n + 1) / 2;
  }
  if (p.poison.channel >= p.c) p.poison.kind = PoisonKind::none;
  Problem q = p;
  q.split = draw_split(p.n, mix(z));
  const CaseData d = make_case_data(p);
  const Eval whole = evaluate(b, p, d), parts = evaluate(b, q, d);
  Result r;
  if (failed_to_run(whole, &r) || failed_to_run(parts, &r)) return r;
  for (const char* n : {"y", "save_mean", "save_stat", "running_mean", "running_var"}) {
    const std::string m = compare(parts, whole, n, identity);
    if (!m.empty()) return fail(to_string(q) + " against the same batch whole: " + m);
  }
  return r;
}

}  // namespace bncheck::props::detail
