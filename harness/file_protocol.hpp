// The file protocol: a case as files, for implementations in any language.
// `bncheck gen` writes a case's inputs as .npy with problem.json (shape, dtypes, eps,
// momentum, conventions, and the output files expected); the implementation writes
// its outputs as .npy files named there; `bncheck check` judges them with the same
// reference, budget, verdicts and reports as `run`, through FileBackend.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "api/result.hpp"
#include "bncheck/backend.hpp"
#include "harness/runner.hpp"

namespace bncheck {

// The outputs an implementation writes for p under conv: (name, file) pairs.
std::vector<std::pair<std::string, std::string>> expected_outputs(const Problem& p, const Conventions& conv);

// Writes the case p into dir (created; it must not exist yet): its inputs under conv
// (the saved statistics of a backward are the reference's, correctly rounded in conv's
// kind) and problem.json. Gives the directory, or why not.
Result<std::string> write_generated_case(const std::string& dir, const Problem& p, const Conventions& conv);

struct GeneratedCase {
  std::string dir;
  Problem problem;
  Conventions conv;  // as generated
  CaseData data;     // the inputs, read from the files
};
// Reads a case written by write_generated_case. Throws DescriptorError on a malformed one.
GeneratedCase read_generated_case(const std::string& dir);

// The case directories under root, sorted: root itself when it holds problem.json,
// else its subdirectories that do. Throws DescriptorError when there is none.
std::vector<std::string> generated_case_dirs(const std::string& root);

// The numerics assumed for an implementation that declares none: arithmetic and
// accumulation in the data's precision, at least float's (NumPy float32 code).
Numerics default_file_numerics(const Problem& p);

// A backend whose outputs are the files of the current case (set_case): each call
// reads them into the harness's buffers, checking their dtype and size. A missing or
// malformed file is an ERROR for that case, naming the file.
class FileBackend final : public Backend {
 public:
  FileBackend(std::string name, std::optional<Numerics> numerics) : name_(std::move(name)), numerics_(numerics) {}
  // The case whose files the next calls read, judged under conv.
  void set_case(const std::string& dir, const Conventions& conv) {
    dir_ = dir;
    conv_ = conv;
  }
  std::string name() const override { return name_; }
  std::string description() const override { return "outputs read from files (bncheck check)"; }
  Support supports(const Problem&) const override { return Support::yes(); }
  Conventions conventions(const Problem&) const override { return conv_; }
  Numerics numerics(const Problem& p) const override;
  Status forward_training(const Problem& p, const ForwardTrainingArgs& a) override;
  Status forward_inference(const Problem& p, const ForwardInferenceArgs& a) override;
  Status backward(const Problem& p, const BackwardArgs& a) override;

 private:
  Status read_into(const Problem& p, const std::vector<std::pair<std::string, void*>>& outs) const;
  std::string name_, dir_;
  Conventions conv_;
  std::optional<Numerics> numerics_;
};

}  // namespace bncheck
