#include <gtest/gtest.h>
#include "bncheck/dtype.hpp"
using namespace bncheck;
TEST(Rounding, Placeholder) { EXPECT_EQ(round_to_bits(1.0, Dtype::f32), 0x3F800000u); }
