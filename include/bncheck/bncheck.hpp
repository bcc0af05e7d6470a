// bncheck's public C++ API: check a Batch Normalization implementation against the
// arbitrary-precision reference from your own test binary.
//
//   struct MyBN : bncheck::Backend { ... };           // bncheck/backend.hpp
//   MyBN mine;
//   for (const bncheck::Problem& p : bncheck::load_suite("default", 1)) {
//     bncheck::CaseRunner runner(p);                   // data and reference, once
//     bncheck::CaseReport r = runner.run(mine);        // verdict and error per tensor
//     if (bncheck::is_failure(r.verdict)) ...          // to_string(r.problem) reproduces it
//   }
//
// Link bncheck::harness (find_package(bncheck CONFIG REQUIRED)); examples/consumer is a
// complete project. Problems are written as descriptors (bncheck/problem.hpp,
// `bncheck help`); the error budget a case is judged by is docs/error-model.md.
#pragma once

#include "bncheck/backend.hpp"
#include "bncheck/case_data.hpp"
#include "bncheck/dtype.hpp"
#include "bncheck/problem.hpp"
#include "bncheck/report.hpp"
#include "bncheck/runner.hpp"
#include "bncheck/tensor.hpp"
