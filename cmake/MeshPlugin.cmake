# mesh_add_plugin(<target> SOURCES <files...> [OUTPUT_DIRECTORY <dir>] [EXPORTS <symbols...>])
#
# Builds an actor plugin: a MODULE library that exports only the plugin entry points (plus any
# EXPORTS you name) through a linker version script, with hidden visibility, and with
# -Wl,--no-undefined so a missing symbol fails the build, not the host at load time. Hiding
# everything else also keeps libstdc++'s template instances and GNU "unique" symbols of one
# plugin from binding to another's.
function(mesh_add_plugin target)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES;EXPORTS" ${ARGN})
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

  set(symbols mesh_plugin_abi_version mesh_plugin_init ${ARG_EXPORTS})
  list(JOIN symbols "; " global)
  set(script ${CMAKE_CURRENT_BINARY_DIR}/${target}.map)
  file(WRITE ${script} "{\n  global: ${global};\n  local: *;\n};\n")
  target_link_options(${target} PRIVATE "LINKER:--no-undefined" "LINKER:--version-script=${script}")
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${script})

  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  endif()
endfunction()
