# mesh_options: warnings and language level for Mesh's own targets. Link it PRIVATE so that
# consumers of the installed SDK never inherit our flags.
add_library(mesh_options INTERFACE)
target_compile_features(mesh_options INTERFACE cxx_std_20)
target_compile_options(mesh_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wno-missing-field-initializers)

# MESH_SANITIZE: a comma-separated list of sanitizers (e.g. "address,undefined") for everything
# this tree builds, libraries, executables, plugins and tests alike: a plugin .so must carry the
# same instrumentation as the host that dlopen()s it. Directory-scoped on purpose (this file is
# included from the top-level CMakeLists.txt before any add_subdirectory), so that targets which
# do not link mesh_options (mesh_test_main, placement fixtures) are instrumented too. Nothing of
# it is exported: the installed SDK never carries these flags.
set(MESH_SANITIZE "" CACHE STRING "Sanitizers for the whole build, e.g. address,undefined")
if(MESH_SANITIZE)
  set(mesh_sanitize_flags -fsanitize=${MESH_SANITIZE} -fno-omit-frame-pointer)
  add_compile_options(${mesh_sanitize_flags})
  add_link_options(${mesh_sanitize_flags})
  message(STATUS "Mesh: sanitizers ${MESH_SANITIZE} for every target")
endif()

# MESH_FUZZ: build the libFuzzer targets of tests/fuzz/ (clang only). Every object is compiled
# with coverage instrumentation plus ASan and UBSan (UB aborts, so libFuzzer reports it as a
# crash); the fuzz executables link libFuzzer's main. Build only the mesh_fuzz target in such a
# tree (tools/fuzz.sh does): clang does not link the ASan runtime into shared objects, so the
# plugins' -Wl,--no-undefined cannot link there. With MESH_FUZZ OFF, tests/fuzz/ builds the same
# target functions into an ordinary replay test instead.
option(MESH_FUZZ "Build the libFuzzer targets in tests/fuzz (clang only)" OFF)
if(MESH_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "MESH_FUZZ needs clang (libFuzzer); configure with CXX=clang++")
  endif()
  if(MESH_SANITIZE)
    message(FATAL_ERROR "MESH_FUZZ brings its own sanitizers; leave MESH_SANITIZE empty")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
