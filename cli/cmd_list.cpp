// `bncheck list`: the backends, whether each is available, what each supports.
#include "cli/common.hpp"

#include <cstdio>
#include <set>
#include <string>

#include "api/text.hpp"

namespace bncheck::cli {

int cmd_list(Args& a) {
  BackendOptions bo;
  while (a.more()) {
    const std::string opt = a.next();
    if (!bo.parse(opt, a)) throw UsageError("unknown option '" + printable(opt, 60) + "' for list");
  }
  auto backends = bo.load();
  std::printf("%-22s %-11s %-30s %s\n", "backend", "available", "supports", "description");
  for (auto& b : backends) {
    const Availability av = b->availability();
    // Probe what the backend supports on a small problem of each kind.
    std::set<std::string> dts, lays, dirs;
    for (Dtype dt : {Dtype::f64, Dtype::f32, Dtype::f16, Dtype::bf16})
      for (Layout l : {Layout::channels_first, Layout::channels_last})
        for (Direction d : {Direction::fwd_train, Direction::fwd_infer, Direction::bwd}) {
          Problem p;
          p.n = 2;
          p.c = 3;
          p.rank = 2;
          p.spatial = {4, 4, 1};
          p.dtype = dt;
          p.pdtype = dt == Dtype::f64 ? Dtype::f64 : Dtype::f32;
          p.layout = l;
          p.dir = d;
          if (b->supports(p).supported) {
            dts.insert(dtype_name(dt));
            lays.insert(to_string(l));
            dirs.insert(to_string(d));
          }
        }
    std::string sup;
    for (auto* s : {&dts, &lays, &dirs}) {
      if (!sup.empty()) sup += " ";
      std::string part;
      for (const auto& x : *s) part += (part.empty() ? "" : ",") + x;
      sup += part.empty() ? "-" : part;
    }
    std::string avs = av.available ? "yes" : "no";
    std::printf("%-22s %-11s %-30s %s%s\n", b->name().c_str(), avs.c_str(), sup.c_str(), b->description().c_str(),
                b->weak() ? " [weak: runs only when named]" : "");
    if (!av.available) std::printf("%-22s   unavailable: %s\n", "", av.reason.c_str());
    // What the reference and the budget assume of it, on an f32 problem.
    Problem p;
    const Numerics nx = b->numerics(p);
    std::string num = "accumulation " + std::to_string(nx.accumulation_bits) + " bits, compute " +
                      std::to_string(nx.compute_bits) + " bits, statistics " + to_string(nx.stats);
    if (nx.folds_inference) num += ", folded inference";
    if (nx.flush_denormals) num += ", flushes subnormals";
    if (nx.fast_math) num += ", fast-math";
    if (!nx.deterministic) num += ", nondeterministic";
    num += std::string("; split statistics: ") + to_string(b->split_kind());
    std::printf("%-22s   conventions %s; numerics (f32 data): %s\n", "", to_string(b->conventions(p)).c_str(),
                num.c_str());
  }
  return kExitOk;
}

}  // namespace bncheck::cli
