// The example project's GoogleTest binary: its BN checked by bncheck with
// EXPECT_BN_ACCURATE on chosen problems and every invariant as a RapidCheck property.
// MY_BN_PLANTED=1 in the environment runs the same tests on the planted weakness
// (MyBN(one_pass)): they must fail, each failure with the line that reruns it.
#include <bncheck/gtest.hpp>
#include <bncheck/rapidcheck.hpp>

#include <cstdlib>

#include "my_bn.hpp"

namespace {

my_bn::MyBN& impl() {
  static my_bn::MyBN b(std::getenv("MY_BN_PLANTED") != nullptr);
  return b;
}

TEST(MyBN, AccurateOnAResNetLayer) { EXPECT_BN_ACCURATE(impl(), "n=2,c=64,sp=28x28"); }
TEST(MyBN, AccurateOnIllConditionedData) { EXPECT_BN_ACCURATE(impl(), "n=4,c=8,sp=14x14,fill=normal:1e4:1"); }
TEST(MyBN, AccurateBackward) { EXPECT_BN_ACCURATE(impl(), "n=4,c=16,sp=7x7,dir=bwd"); }

BNCHECK_RC_PROPERTIES(MyBNProperties, impl())

}  // namespace
