cmake_minimum_required(VERSION 3.22)
# Fails if an object of a kernel library defines a weak or unique global symbol that another
# instruction set's code could also define: the linker keeps one copy per name, so such a symbol
# could run, say, AVX-512 instructions on behalf of baseline code. Allowed:
#   - names in (or instantiated on) dd::arch_<LEVEL>, the level's own namespace (src/core/arch.hpp);
#   - xsimd code instantiated on this level's instruction-set tags (XSIMD_ARCHS), e.g.
#     xsimd::batch<float, xsimd::fma3<xsimd::avx2>>::operator+ in the AVX2 kernels. Lower levels' tags
#     (LOWER_XSIMD_ARCHS) may appear too (xsimd passes them as dispatch arguments), a higher or
#     unknown one may not: a lower level cannot instantiate this level's types, and a higher level
#     that instantiates them fails its own check (the name's highest tag is not its own);
#   - the personality routine's reference DW.ref.__gxx_personality_v0 (identical everywhere).
# Anything else (std::min, row_param::operator[] ... emitted out of line) fails.
string(REPLACE ";" " " _objects "${OBJECTS}")
separate_arguments(_list UNIX_COMMAND "${_objects}")
set(_owned ${XSIMD_ARCHS})
set(_lower ${LOWER_XSIMD_ARCHS})
execute_process(COMMAND ${NM} -C --defined-only ${_list} OUTPUT_VARIABLE _out RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "nm failed on ${_list}")
endif()
string(REPLACE "\n" ";" _lines "${_out}")
set(_bad "")
set(_n_xsimd 0)
foreach(_line ${_lines})
  if(NOT _line MATCHES "^[0-9a-f]+ [WuV] (.*)$")
    continue()
  endif()
  set(_sym "${CMAKE_MATCH_1}")
  if(_sym MATCHES "arch_${LEVEL}" OR _sym MATCHES "^DW\\.ref\\.__gxx_personality")
    continue()
  endif()
  # The instruction-set tags the name mentions (xsimd::generic and the fma3<> wrapper say nothing).
  string(REGEX MATCHALL "xsimd::(sse[0-9_]*|ssse3|avx[0-9a-z_]*|fma4|neon[0-9a-z_]*|sve|rvv|wasm)[^0-9a-z_]"
         _tags "${_sym} ")
  set(_own FALSE)
  set(_foreign FALSE)
  foreach(_tag ${_tags})
    string(REGEX REPLACE "^xsimd::([0-9a-z_]+).*$" "\\1" _tag "${_tag}")
    if(_tag IN_LIST _owned)
      set(_own TRUE)
    elseif(NOT _tag IN_LIST _lower)
      set(_foreign TRUE)
    endif()
  endforeach()
  if(_own AND NOT _foreign)
    math(EXPR _n_xsimd "${_n_xsimd} + 1")
  else()
    list(APPEND _bad "${_sym}")
  endif()
endforeach()
if(_bad)
  list(REMOVE_DUPLICATES _bad)
  string(REPLACE ";" "\n  " _bad "${_bad}")
  message(FATAL_ERROR "weak symbols that other instruction sets' code could share, in the ${LEVEL} kernels "
                      "(${LEVEL}'s xsimd tags: ${XSIMD_ARCHS}):\n  ${_bad}")
endif()
message(STATUS "${LEVEL} kernels: no shared weak symbols (${_n_xsimd} weak xsimd symbols of ${LEVEL}'s own instruction sets)")
