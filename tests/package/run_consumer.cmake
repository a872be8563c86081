# Builds the consumer project (tests/package/consumer) against differential_dynamics in a temporary
# folder, runs it, and checks that the source tree is left exactly as it was.
#
#   cmake -DMODE=find_package|subdirectory -DSOURCE_DIR=<repository> [-DCXX_COMPILER=...]
#         [-DGENERATOR=...] [-DLAUNCHER=ccache] [-DKERNEL_LEVELS=baseline] -P run_consumer.cmake
#
# find_package: configures, builds and installs the library (tests, benchmarks and Python off) into
# a temporary prefix, then builds the consumer with find_package(differential_dynamics CONFIG).
# subdirectory: the consumer adds the repository with add_subdirectory and builds its default target.
# KERNEL_LEVELS (default baseline) limits the kernel instruction sets of these throwaway builds.
cmake_minimum_required(VERSION 3.22)

foreach(var MODE SOURCE_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT DEFINED KERNEL_LEVELS)
  set(KERNEL_LEVELS baseline)
endif()
get_filename_component(SOURCE_DIR "${SOURCE_DIR}" ABSOLUTE)

# What the source tree holds, ignored files included (a build output would show as a new entry).
function(source_tree_snapshot out)
  find_program(GIT git)
  if(GIT)
    execute_process(COMMAND "${GIT}" -C "${SOURCE_DIR}" rev-parse --is-inside-work-tree
                    OUTPUT_VARIABLE inside ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
  if(GIT AND inside STREQUAL "true")
    execute_process(COMMAND "${GIT}" -C "${SOURCE_DIR}" status --porcelain --ignored
                    OUTPUT_VARIABLE listing RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "git status failed in ${SOURCE_DIR}")
    endif()
  else()  # not a git checkout (e.g. a source archive): every path with its time stamp
    file(GLOB_RECURSE paths LIST_DIRECTORIES true RELATIVE "${SOURCE_DIR}" "${SOURCE_DIR}/*")
    set(listing "")
    foreach(p IN LISTS paths)
      file(TIMESTAMP "${SOURCE_DIR}/${p}" stamp "%s")
      string(APPEND listing "${p} ${stamp}\n")
    endforeach()
  endif()
  set(${out} "${listing}" PARENT_SCOPE)
endfunction()

function(run)
  string(REPLACE ";" " " shown "${ARGN}")
  message(STATUS "$ ${shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message("${out}")
    message(FATAL_ERROR "failed (${rc}): ${shown}\n(work folder kept: ${WORK})")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

# A fresh temporary folder outside the source tree.
if(DEFINED ENV{TMPDIR} AND IS_DIRECTORY "$ENV{TMPDIR}")
  set(tmp "$ENV{TMPDIR}")
else()
  set(tmp /tmp)
endif()
string(RANDOM LENGTH 10 tag)
set(WORK "${tmp}/dd-consumer-${MODE}-${tag}")
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
file(COPY "${CMAKE_CURRENT_LIST_DIR}/consumer/" DESTINATION "${WORK}/consumer")

set(common_args -DCMAKE_BUILD_TYPE=Release)
if(GENERATOR)
  list(APPEND common_args -G "${GENERATOR}")
endif()
if(CXX_COMPILER)
  list(APPEND common_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
if(LAUNCHER)
  list(APPEND common_args "-DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER}")
endif()
cmake_host_system_information(RESULT jobs QUERY NUMBER_OF_LOGICAL_CORES)

source_tree_snapshot(before)

if(MODE STREQUAL "find_package")
  set(prefix "${WORK}/prefix")
  run("${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK}/library-build" ${common_args}
      -DDD_TESTS=OFF -DDD_PYTHON=OFF -DDD_BENCH=OFF "-DDD_KERNEL_LEVELS_ONLY=${KERNEL_LEVELS}"
      "-DCMAKE_INSTALL_PREFIX=${prefix}")
  run("${CMAKE_COMMAND}" --build "${WORK}/library-build" --parallel ${jobs})
  run("${CMAKE_COMMAND}" --install "${WORK}/library-build")
  foreach(header differential_dynamics.hpp core.hpp compexp.hpp ssl.hpp processor.hpp)
    if(NOT EXISTS "${prefix}/include/differential_dynamics/${header}")
      message(FATAL_ERROR "not installed: include/differential_dynamics/${header} (under ${prefix})")
    endif()
  endforeach()
  file(GLOB_RECURSE license "${prefix}/share/doc/*/LICENSE")
  if(NOT license)
    message(FATAL_ERROR "LICENSE is not installed under ${prefix}/share/doc")
  endif()
  file(GLOB_RECURSE config "${prefix}/*/differential_dynamicsConfig.cmake")
  file(GLOB_RECURSE config_version "${prefix}/*/differential_dynamicsConfigVersion.cmake")
  if(NOT config OR NOT config_version)
    message(FATAL_ERROR "the CMake package (differential_dynamicsConfig.cmake, ...ConfigVersion.cmake) "
                        "is not installed under ${prefix}")
  endif()
  # Private headers (SIMD types, kernels) stay private.
  file(GLOB_RECURSE private "${prefix}/include/*/kernels.hpp" "${prefix}/include/*/simd.hpp" "${prefix}/include/*/arch.hpp")
  if(private)
    message(FATAL_ERROR "private headers installed: ${private}")
  endif()
  run("${CMAKE_COMMAND}" -S "${WORK}/consumer" -B "${WORK}/consumer-build" ${common_args}
      -DDD_CONSUMER_MODE=find_package "-DCMAKE_PREFIX_PATH=${prefix}")
elseif(MODE STREQUAL "subdirectory")
  run("${CMAKE_COMMAND}" -S "${WORK}/consumer" -B "${WORK}/consumer-build" ${common_args}
      -DDD_CONSUMER_MODE=subdirectory "-DDD_SOURCE_DIR=${SOURCE_DIR}" "-DDD_KERNEL_LEVELS_ONLY=${KERNEL_LEVELS}")
else()
  message(FATAL_ERROR "MODE must be find_package or subdirectory, got '${MODE}'")
endif()
run("${CMAKE_COMMAND}" --build "${WORK}/consumer-build" --parallel ${jobs})
if(MODE STREQUAL "subdirectory")
  # The default target built the library and nothing else of the project.
  file(GLOB_RECURSE built "${WORK}/consumer-build/differential_dynamics/*libdifferential_dynamics*")
  if(NOT built)
    message(FATAL_ERROR "the library was not built under ${WORK}/consumer-build/differential_dynamics")
  endif()
endif()
run("${WORK}/consumer-build/dd_consumer")
message("${last_output}")

source_tree_snapshot(after)
if(NOT before STREQUAL after)
  message(FATAL_ERROR "the source tree changed (build output in ${SOURCE_DIR}?)\n"
                      "before:\n${before}\nafter:\n${after}\n(work folder kept: ${WORK})")
endif()
file(REMOVE_RECURSE "${WORK}")
message(STATUS "${MODE}: ok, source tree unchanged")
