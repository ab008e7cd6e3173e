# CTest's downstream-install test: installs the build tree into a fresh
# prefix, configures and builds test/downstream against it with
# find_package(QForge), runs both programs and an installed tool.
# Arguments: QFORGE_BUILD_DIR, QFORGE_DOWNSTREAM_SOURCE, QFORGE_WORK_DIR,
# QFORGE_GENERATOR, QFORGE_CXX_COMPILER, QFORGE_C_COMPILER, QFORGE_CXX_FLAGS,
# QFORGE_C_FLAGS, QFORGE_LINKER_FLAGS.
function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "downstream: ${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

set(prefix ${QFORGE_WORK_DIR}/install)
file(REMOVE_RECURSE ${QFORGE_WORK_DIR})
run_step("cmake --install"
  ${CMAKE_COMMAND} --install ${QFORGE_BUILD_DIR} --prefix ${prefix})
foreach(file include/qforge_rt.h include/qforge/InitAll.h
             include/qforge-c/QForge.h include/qforge/dialect/QForgeOps.h.inc
             lib/cmake/QForge/QForgeConfig.cmake bin/qforge-opt bin/qforge-run)
  if(NOT EXISTS ${prefix}/${file})
    message(FATAL_ERROR "downstream: ${file} was not installed")
  endif()
endforeach()

run_step("configure"
  ${CMAKE_COMMAND} -S ${QFORGE_DOWNSTREAM_SOURCE} -B ${QFORGE_WORK_DIR}/build
  -G ${QFORGE_GENERATOR} -DCMAKE_PREFIX_PATH=${prefix}
  -DCMAKE_CXX_COMPILER=${QFORGE_CXX_COMPILER}
  -DCMAKE_C_COMPILER=${QFORGE_C_COMPILER}
  # The same flags as the build under test (a sanitizer build's libraries
  # need the sanitizer's runtime in the downstream link too).
  "-DCMAKE_CXX_FLAGS=${QFORGE_CXX_FLAGS}" "-DCMAKE_C_FLAGS=${QFORGE_C_FLAGS}"
  "-DCMAKE_EXE_LINKER_FLAGS=${QFORGE_LINKER_FLAGS}"
  -DCMAKE_BUILD_TYPE=Release)
run_step("build" ${CMAKE_COMMAND} --build ${QFORGE_WORK_DIR}/build)

run_step("downstream_runtime" ${QFORGE_WORK_DIR}/build/downstream_runtime)
if(NOT step_output MATCHES "downstream runtime OK")
  message(FATAL_ERROR "downstream: runtime program said:\n${step_output}")
endif()
run_step("downstream_compiler" ${QFORGE_WORK_DIR}/build/downstream_compiler)
if(NOT step_output MATCHES "qforge.matmul" OR
   NOT step_output MATCHES "downstream compiler OK")
  message(FATAL_ERROR "downstream: compiler program said:\n${step_output}")
endif()
# Installed tools run from the prefix (qforge-run finds its runtime there).
run_step("installed qforge-run --help" ${prefix}/bin/qforge-run --help)
run_step("installed qforge-opt" ${prefix}/bin/qforge-opt --show-dialects)
message(STATUS "downstream: install, find_package(QForge), build and run OK")
