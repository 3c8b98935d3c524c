// fs_dump MODEL STEPS [KEY=VALUE ...]: one run's data, parameters, loss, gradient and a STEPS-step flow as
// JSON on stdout, in fp64, for the independent reference implementations in tests/reference.
#include <cstdio>
#include <iostream>

#include "host/grid.h"
#include "host/spec.h"
#include "host/util.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: fs_dump MODEL STEPS [KEY=VALUE ...]\n");
    return 2;
  }
  try {
    std::vector<std::string> sets = {"precision=fp64"};
    for (int i = 3; i < argc; ++i) sets.push_back(argv[i]);
    const std::string text = std::string("model = \"") + argv[1] + "\"\n";
    const fs::Spec spec = fs::parse_spec(text, "<fs_dump>", sets);
    const auto runs = fs::expand_grid(spec);
    std::cout << spec.entry->dump(fs::RunInput{runs.at(0).params, spec.sweep_seed}, std::atol(argv[2])) << "\n";
    return 0;
  } catch (const fs::InputError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
