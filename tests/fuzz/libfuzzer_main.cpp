// libFuzzer's entry point for one target; MESH_FUZZ_FUNCTION names it (tests/fuzz/CMakeLists.txt).
#include "fuzz_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return mesh::fuzz::MESH_FUZZ_FUNCTION(data, size);
}
