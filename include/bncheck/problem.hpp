// The one problem type: a batch-normalization call, its data and its conventions.
//
// Descriptor (one line, comma-separated key=value, canonical order):
//   n=2,c=64,sp=56x56,layout=cf,dt=f32,pdt=f32,dir=fwd_train,eps=1e-05,mom=0.1,
//   affine=1,fill=normal:0:1,seed=1[,rvar=biased][,momdir=old][,save=var]
//   [,poison=nan@3][,split=3:0:1:4]
// Only n and c are required when parsing; print(parse(s)) is canonical and
// parse(print(p)) == p.
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bncheck/dtype.hpp"

namespace bncheck {

enum class Layout { channels_first, channels_last };  // N,C,spatial... / N,spatial...,C
enum class Direction { fwd_train, fwd_infer, bwd };
enum class FillKind { normal, uniform, constant, exact };

// Conventions differ between frameworks; they are explicit, never silent.
enum class RunningVar { unbiased, biased };     // running variance from sigma^2*M/(M-1) or sigma^2
enum class MomentumDir { new_stat, old_stat };  // r <- (1-m) r + m s   or   r <- m r + (1-m) s
enum class SavedStat { invstd, variance };      // what forward training saves for backward

struct Conventions {
  RunningVar running_var = RunningVar::unbiased;     // PyTorch / cuDNN
  MomentumDir momentum_dir = MomentumDir::new_stat;  // PyTorch / cuDNN
  SavedStat saved = SavedStat::invstd;               // PyTorch / cuDNN
  // False for backends that keep no running statistics (oneDNN): forward training
  // then leaves them untouched and they are not compared. Declared by a backend,
  // never part of a problem.
  bool keeps_running = true;
  // var + eps = 0: IEEE gives r = 1/sqrt(0) = +Inf and NaN outputs; PyTorch's CPU
  // kernel defines r = 0 there instead (y = beta). Declared by a backend.
  bool zero_var_invstd_is_zero = false;
  // The backend uses eps rounded to f32 (a float epsilon); the reference then uses
  // that value too. Declared by a backend.
  bool eps_float = false;
  // M = 1 with the unbiased running variance: 0/0 = NaN, or (declared) the biased
  // variance 0 instead.
  bool single_element_biased = false;
  bool operator==(const Conventions&) const = default;
};

// The epsilon a backend following conv uses for a problem's eps.
inline double effective_eps(double eps, const Conventions& conv) {
  return conv.eps_float ? static_cast<double>(static_cast<float>(eps)) : eps;
}

// Data fill of x. Each channel c gets its own offset and spread (see harness/fill.cpp)
// so that a channel mix-up changes the values.
struct Fill {
  FillKind kind = FillKind::normal;
  double mean = 0.0;    // offset of the data
  double spread = 1.0;  // std (normal), half-width (uniform), unused (constant), step (exact)
  bool operator==(const Fill&) const = default;
};

// One special value planted in one channel (element n = N/2, middle spatial position)
// of x, to check that it stays confined to its channel.
enum class PoisonKind { none, nan, pinf, ninf };
struct Poison {
  PoisonKind kind = PoisonKind::none;
  int64_t channel = 0;
  bool operator==(const Poison&) const = default;
};

struct Problem {
  int64_t n = 1;
  int64_t c = 1;
  int rank = 0;  // number of spatial dimensions, 0..3
  std::array<int64_t, 3> spatial{1, 1, 1};
  Layout layout = Layout::channels_first;
  Dtype dtype = Dtype::f32;   // x, y, dy, dx
  Dtype pdtype = Dtype::f32;  // gamma, beta, statistics, dgamma, dbeta
  Direction dir = Direction::fwd_train;
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;
  Fill fill;
  uint64_t seed = 1;
  Conventions conv;
  Poison poison;
  // Forward training as the K ranks of distributed (synchronized) BN compute it: the
  // batch sizes of K consecutive slices of the batch, summing to n (0 and 1 allowed);
  // each slice computes local statistics, one merge gives the batch's, each slice then
  // normalizes itself (Backend::local_stats, merge_stats, apply_stats). The expected
  // outputs are the whole batch's. Empty: one call.
  std::vector<int64_t> split;

  bool operator==(const Problem&) const = default;

  int64_t spatial_size() const {
    int64_t s = 1;
    for (int i = 0; i < rank; ++i) s *= spatial[i];
    return s;
  }
  int64_t reduction_size() const { return n * spatial_size(); }  // M
  int64_t elements() const { return n * c * spatial_size(); }
  // Linear index of element (n, c, s), s the flattened spatial index.
  int64_t index(int64_t in, int64_t ic, int64_t is) const {
    const int64_t S = spatial_size();
    return layout == Layout::channels_first ? (in * c + ic) * S + is : (in * S + is) * c + ic;
  }
};

// The most slices a split may have.
inline constexpr int64_t kMaxSplit = 4096;

struct DescriptorError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string to_string(const Problem& p);
// Throws DescriptorError naming the offending token.
Problem parse_problem(std::string_view desc);
// Apply the key=value tokens of desc on top of base (for defaults shared by a suite).
Problem parse_problem(std::string_view desc, const Problem& base);

const char* to_string(Layout l);
const char* to_string(Direction d);
const char* to_string(RunningVar v);
const char* to_string(MomentumDir v);
const char* to_string(SavedStat v);
std::string to_string(const Fill& f);
std::string to_string(const Conventions& c);
// The inverse of to_string(Conventions) (keys in any order, missing ones PyTorch's):
// rvar=unbiased|biased, momdir=new|old, save=invstd|var, running=kept|none,
// zero_var_invstd=inf|0, eps=double|float, m1_rvar=nan|biased. Throws DescriptorError.
Conventions parse_conventions(std::string_view text);

// Keeps a split consistent after p.n or p.dir changed (minimisation, filters): no
// split outside forward training; otherwise samples are taken from the last slices,
// or added to the last one, until the slices hold n.
void fit_split(Problem& p);

// The descriptor grammar, for --help.
extern const char* const kDescriptorHelp;

}  // namespace bncheck
