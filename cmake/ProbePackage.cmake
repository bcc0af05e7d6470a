# bncheck_probe_package(<Package> <result-var> [find_package arguments...])
#
# An optional dependency must never break the build. A package's own config file can
# fail in ways find_package(QUIET) does not catch: Debian's dnnl-config.cmake calls
# find_package(OpenCL REQUIRED), a fatal error inside our configure when the OpenCL
# headers are absent. So each optional package is first found in a throw-away child
# configure (cmake/probe/); only when that succeeds is it found here. On failure the
# result variable is OFF and <result-var>_WHY holds the child's first error line.
function(bncheck_probe_package package result)
  set(dir "${PROJECT_BINARY_DIR}/probe-${package}")
  file(REMOVE_RECURSE "${dir}")
  set(pass -DPROBE_PACKAGE=${package} "-DPROBE_ARGS=${ARGN}")
  foreach(v CMAKE_PREFIX_PATH CMAKE_MODULE_PATH ${package}_DIR ${package}_ROOT CMAKE_CUDA_COMPILER)
    if(DEFINED ${v})
      list(JOIN ${v} "\\;" joined)
      list(APPEND pass "-D${v}=${joined}")
    endif()
  endforeach()
  execute_process(
    COMMAND ${CMAKE_COMMAND} -S "${PROJECT_SOURCE_DIR}/cmake/probe" -B "${dir}" -G "${CMAKE_GENERATOR}"
            -DCMAKE_C_COMPILER=${CMAKE_C_COMPILER} -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER} ${pass}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0)
    set(${result} ON PARENT_SCOPE)
    set(${result}_WHY "" PARENT_SCOPE)
  else()
    string(REGEX MATCH "CMake Error[^\n]*\n[^\n]*\n[^\n]*" why "${err}")
    string(REGEX REPLACE "[ \n]+" " " why "${why}")
    set(${result} OFF PARENT_SCOPE)
    set(${result}_WHY "${why}" PARENT_SCOPE)
  endif()
  file(REMOVE_RECURSE "${dir}")
endfunction()
