// Saved cases: a case's inputs, correctly rounded reference and a backend's outputs as
// .npy files with case.json, written for people and tools (NumPy) and read back by
// `bncheck run --case DIR`.
#pragma once

#include <string>
#include <vector>

#include "api/result.hpp"
#include "harness/runner.hpp"

namespace bncheck {

// The logical shape of x (and y, dy, dx) in the problem's layout.
std::vector<int64_t> data_shape(const Problem& p);

// Writes the inputs, the reference (correctly rounded) and the backend's outputs of a
// case as .npy files into a new directory parent/stem (parent/stem-2, -3, ... when
// that exists: concurrent campaigns never share one), with case.json naming the
// problem and the backend. stem must be a plain file name. Gives the directory
// written, or why not.
Result<std::string> save_case(const std::string& parent, const std::string& stem, CaseRunner& runner,
                              const CaseReport& report, const CaseOutputs& outputs, const std::string& repro);

// Reads a case saved by save_case (or written by the libFuzzer target): the problem
// from case.json and the inputs from its .npy files, so that the case reruns on its
// own data (`bncheck run --case DIR`). Throws DescriptorError on a malformed case.
struct SavedCase {
  Problem problem;
  std::string backend;  // the backend it was saved for
  std::string verdict;  // the verdict it was saved with
  CaseData data;
};
SavedCase load_case(const std::string& dir);

// Writes one tensor as .npy: f64, f32 and f16 natively; bf16 widened exactly to f32.
// shape is the logical shape in the problem's layout.
Result<Done> write_npy(const std::string& path, const Tensor& t, const std::vector<int64_t>& shape);
Result<Done> write_npy(const std::string& path, const RefTensor& t, const std::vector<int64_t>& shape);

// Reads a .npy of n values of dtype dt (bf16: f32 values that are exactly bf16), C
// order, any shape of n elements. Throws DescriptorError saying what is wrong.
Tensor read_npy(const std::string& path, Dtype dt, size_t n);
// A file's bytes; throws DescriptorError when unreadable or larger than max_bytes.
std::string read_file(const std::string& path, size_t max_bytes);

}  // namespace bncheck
