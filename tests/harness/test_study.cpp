// The study's arithmetic on synthetic measurements: growth exponents above the floor
// and below saturation, expectations that were never measured, CSV quoting and the
// escaping of names in the SVG and HTML.
#include <gtest/gtest.h>

#include <cmath>

#include "harness/study.hpp"

using namespace bncheck;

namespace {

study::Row row(size_t point, const std::string& backend, double x, double err) {
  study::Row r;
  r.sweep = 0;
  r.point = point;
  r.backend = backend;
  r.x = r.x_nominal = x;
  r.problem = "n=1,c=1";
  r.outputs.push_back({"save_stat", 0.5, 0.5, 0.1, err, 1e-3});
  return r;
}

study::Spec spec_of(size_t points) {
  study::Spec s;
  study::Sweep sw;
  sw.param = study::Param::kappa;
  for (size_t i = 0; i < points; ++i) sw.values.push_back(std::pow(10.0, static_cast<double>(i)));
  sw.fit_output = "save_stat";
  s.sweeps.push_back(sw);
  s.seeds = 1;
  return s;
}

}  // namespace

TEST(Study, GrowthExponentIsFittedAboveTheFloorAndBeforeSaturation) {
  const study::Spec spec = spec_of(8);
  std::vector<study::Row> rows;
  // "sq": floor 1e-9 for x = 1, 10, then 1e-9 x^2 up to saturation at 1e4 (0.1); the last
  // point falls back to 1e-6 (collapsed data) and must not count.
  const double sq[] = {1e-9, 1e-9, 1e-5, 1e-3, 1e-1, 10, 1e3, 1e-6};
  for (size_t i = 0; i < 8; ++i) rows.push_back(row(i, "sq", std::pow(10.0, static_cast<double>(i)), sq[i]));
  // "lin": 1e-8 x from the start.
  for (size_t i = 0; i < 6; ++i)
    rows.push_back(
        row(i, "lin", std::pow(10.0, static_cast<double>(i)), 1e-8 * std::pow(10.0, static_cast<double>(i))));
  const auto fits = study::fit(spec, rows, {"sq", "lin", "absent"});
  ASSERT_EQ(fits.size(), 3u);
  // sq: 1e-5 at x = 100 and 1e-3 at 1e3 grow (above 10 x the floor); 0.1 at 1e4 is
  // saturated and ends the fit, so the 1e-6 after it does not count.
  EXPECT_EQ(fits[0].points, 2);
  EXPECT_NEAR(fits[0].slope, 2.0, 1e-12);
  EXPECT_NEAR(fits[0].slope_floor, 0.0, 1e-12);
  // lin: 1e-7 at x = 10 is not above 10 x the floor (1e-8); x = 100 .. 1e5 grow.
  EXPECT_EQ(fits[1].points, 4);
  EXPECT_NEAR(fits[1].slope, 1.0, 1e-12);
  EXPECT_TRUE(std::isnan(fits[2].slope));

  study::Spec with = spec;
  with.expectations = {
      {0, "sq", "slope", 2, 0.3, ""}, {0, "lin", "slope", 2, 0.3, ""}, {0, "absent", "slope", 1, 0.3, ""}};
  const auto out = study::judge(with, fits);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].measured_at_all && out[0].agrees);
  EXPECT_TRUE(out[1].measured_at_all && !out[1].agrees);  // slope 1 against 2
  EXPECT_FALSE(out[2].measured_at_all);                   // never run: not a disagreement
}

TEST(Study, CsvQuotesAndSvgEscapes) {
  const study::Spec spec = spec_of(2);
  std::vector<study::Row> rows{row(0, "a<b&c", 1, 1e-7), row(1, "a<b&c", 10, 1e-6)};
  rows[0].problem = std::string("n=1,c=1,\"quoted\"") + std::string(400, 'x');
  const std::string csv = study::csv(spec, rows);
  EXPECT_NE(csv.find("\"n=1,c=1,\"\"quoted\"\"" + std::string(400, 'x') + "\"\n"), std::string::npos);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);  // header and one line per output
  const std::string svg = study::svg_sweep(spec, 0, rows, study::fit(spec, rows, {"a<b&c"}), {"a<b&c"});
  EXPECT_EQ(svg.find("a<b"), std::string::npos);
  EXPECT_NE(svg.find("a&lt;b&amp;c"), std::string::npos);
  const std::string html = study::html(spec, rows, {}, {}, {"a<b&c"});
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("a<b"), std::string::npos);
}
