#include <cstdio>
#include <cstdlib>

#include "fuzz_target.hpp"

namespace mesh::fuzz {

void fail(const char* target, const std::string& what) {
#ifdef MESH_FUZZ_ABORT
  // libFuzzer: say what failed, then crash so that the input is saved as an artifact.
  std::fprintf(stderr, "fuzz property violated: %s: %s\n", target, what.c_str());
  std::abort();
#else
  throw property_violation(std::string(target) + ": " + what);
#endif
}

}  // namespace mesh::fuzz
