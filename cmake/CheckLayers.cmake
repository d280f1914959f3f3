# CTest driver: fails when a source includes a header of a layer above its own
# (docs/architecture.md, "Who may include whom"). Input: SOURCE_DIR.
#
# A layer is named by its folders: src/<layer>/ and include/pagekv/<layer>/;
# the core's public headers are the ones directly in include/pagekv/.
set(layers core cost sim net vllm cluster python)
# Layers each may NOT include (everything above it; net and vllm sit beside
# cost/sim, on core only, and sim's cache replay may use vllm's pool;
# cluster sits above sim and net).
set(forbidden_core cost sim net vllm cluster python)
set(forbidden_cost sim net vllm cluster python)
set(forbidden_sim net cluster python)
set(forbidden_net cost sim vllm cluster python)
set(forbidden_vllm cost sim net cluster python)
set(forbidden_cluster vllm python)
set(forbidden_python)

set(violations "")
foreach(layer IN LISTS layers)
  file(GLOB_RECURSE files
    "${SOURCE_DIR}/src/${layer}/*.h" "${SOURCE_DIR}/src/${layer}/*.cc"
    "${SOURCE_DIR}/include/pagekv/${layer}/*.h")
  if(layer STREQUAL "core")
    file(GLOB top_headers "${SOURCE_DIR}/include/pagekv/*.h")
    list(APPEND files ${top_headers})
  endif()
  foreach(file IN LISTS files)
    file(STRINGS "${file}" includes REGEX "^#include \"")
    foreach(line IN LISTS includes)
      foreach(above IN LISTS forbidden_${layer})
        if(line MATCHES "^#include \"(pagekv/)?${above}/")
          file(RELATIVE_PATH rel "${SOURCE_DIR}" "${file}")
          string(APPEND violations "  ${rel} (${layer}) includes a ${above} header: ${line}\n")
        endif()
      endforeach()
    endforeach()
  endforeach()
endforeach()
if(violations)
  message(FATAL_ERROR "layering violations (a layer may only include layers below it):\n${violations}")
endif()
message(STATUS "layers: no source includes a layer above its own")
