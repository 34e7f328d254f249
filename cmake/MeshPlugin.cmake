# mesh_add_plugin(<target> SOURCES <files...>)
#
# Builds an actor plugin: a MODULE library with hidden visibility (only the entry points that
# MESH_PLUGIN marks are exported) and -Wl,--no-undefined (a missing symbol fails the build,
# not the host at load time). Link Mesh::sdk (or mesh_sdk in-tree) yourself, or let this do it.
function(mesh_add_plugin target)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  add_library(${target} MODULE ${ARG_SOURCES})
  if(TARGET Mesh::sdk)
    target_link_libraries(${target} PRIVATE Mesh::sdk)
  else()
    target_link_libraries(${target} PRIVATE mesh_sdk)
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_compile_features(${target} PRIVATE cxx_std_20)
  target_link_options(${target} PRIVATE "LINKER:--no-undefined")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  endif()
endfunction()
