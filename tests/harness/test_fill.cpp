// The generated data of a problem is part of the problem: a committed suite or
// regression case means the same tensors on every machine, for every thread count and
// for every later version. The hashes below pin the bytes of every tensor; a change
// to the generator that moves a single bit fails here (and would silently change what
// every committed case checks).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <thread>

#include "harness/case_data.hpp"

using namespace bncheck;

namespace {

// FNV-1a over the data bytes of each tensor, in a fixed order, tensor sizes included.
uint64_t hash_data(const CaseData& d) {
  uint64_t h = 0xcbf29ce484222325ull;
  auto add = [&h](const Tensor& t) {
    const auto* b = static_cast<const unsigned char*>(t.data());
    const uint64_t n = t.bytes();
    for (int k = 0; k < 8; ++k) h = (h ^ ((n >> (8 * k)) & 0xff)) * 0x100000001b3ull;
    for (uint64_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  };
  for (const Tensor* t : {&d.x, &d.dy, &d.gamma, &d.beta, &d.running_mean, &d.running_var}) add(*t);
  return h;
}

struct Golden {
  const char* problem;
  uint64_t hash;
};

// Every fill, both layouts, every dtype, poison, channels longer than one piece
// (M > 2^15), tensors large enough for threads to share (> 2^18 elements).
const Golden kGolden[] = {
    {"n=3,c=5,sp=7x9", 0x2f396537cf737dc5ull},
    {"n=3,c=5,sp=7x9,layout=cl,dir=bwd", 0x6dec6efc8bc853beull},
    {"n=2,c=3,sp=4x5,dt=f16,pdt=f32,dir=bwd,fill=uniform:3:0.5", 0xdf3e753ae7af658bull},
    {"n=5,c=4,sp=3,dt=bf16,pdt=bf16,fill=exact:10:0.25,layout=cl", 0x5bfc344c2f48d98eull},
    {"n=2,c=7,sp=9,dt=f64,pdt=f64,dir=fwd_infer,fill=const:2.5", 0xa00ce18b55fca983ull},
    {"n=4,c=3,sp=5,fill=normal:1:2,poison=nan@1,affine=0", 0x80e394d79a48827cull},
    {"n=3,c=2,sp=5,fill=exact:0:1,dir=bwd", 0x4bab3d7a4574bcb9ull},
    {"n=2,c=3,sp=200x300,layout=cl,dir=bwd", 0xb2ca83f0b63644b8ull},
    {"n=70000,c=5,dt=f16,pdt=f32,fill=uniform:-1:4", 0xf8fabadc9da279fcull},
    {"n=3,c=2,sp=128x128,dt=f64,pdt=f64,fill=const:-7", 0xe7a72e6fc73d5481ull},
    {"n=1,c=1,sp=70001,fill=exact:5:1", 0xebea4babf3bf0a90ull},
    {"n=4,c=1,sp=300x300,fill=exact:5:1,dir=bwd", 0x70281d1432ffaf84ull},
};

TEST(Fill, DataIsPinnedAndIndependentOfThreads) {
  const int many = std::max(3, static_cast<int>(std::thread::hardware_concurrency()));
  for (const Golden& g : kGolden) {
    const Problem p = parse_problem(g.problem);
    const uint64_t one = hash_data(make_case_data(p, 1));
    EXPECT_EQ(one, g.hash) << g.problem << ": the data moved; its hash is now 0x" << std::hex << one;
    EXPECT_EQ(hash_data(make_case_data(p, many)), one) << g.problem << " with " << many << " threads";
    // Pieces taken by two threads that start at once, the rest (none) by take().
    CaseDataBuilder b(p);
    std::thread t1([&b] { b.work(); });
    std::thread t2([&b] { b.work(); });
    t1.join();
    t2.join();
    EXPECT_EQ(hash_data(b.take()), one) << g.problem << " built by two threads";
  }
}

}  // namespace
