# mesh_options: warnings and language level for Mesh's own targets. Link it PRIVATE so that
# consumers of the installed SDK never inherit our flags.
add_library(mesh_options INTERFACE)
target_compile_features(mesh_options INTERFACE cxx_std_20)
target_compile_options(mesh_options INTERFACE -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
