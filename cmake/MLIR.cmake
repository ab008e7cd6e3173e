# Finds Debian's LLVM/MLIR 22 the way mlir/examples/standalone does and sets
# up tablegen. Every qforge library links the single libMLIR.so rather than
# the static component libraries: links take seconds instead of minutes, and
# there is one copy of MLIR's global registries per process.
find_package(MLIR REQUIRED CONFIG
  HINTS /usr/lib/llvm-22/lib/cmake/mlir)
if(NOT LLVM_VERSION_MAJOR EQUAL 22)
  message(FATAL_ERROR "qforge needs LLVM/MLIR 22, found ${LLVM_PACKAGE_VERSION} "
                      "(${MLIR_DIR}); run scripts/setup.sh")
endif()
message(STATUS "Using MLIRConfig.cmake in: ${MLIR_DIR}")
message(STATUS "Using LLVMConfig.cmake in: ${LLVM_DIR}")

set(LLVM_RUNTIME_OUTPUT_INTDIR ${CMAKE_BINARY_DIR}/bin)
set(LLVM_LIBRARY_OUTPUT_INTDIR ${CMAKE_BINARY_DIR}/lib)
set(MLIR_BINARY_DIR ${CMAKE_BINARY_DIR})

list(APPEND CMAKE_MODULE_PATH "${MLIR_CMAKE_DIR}" "${LLVM_CMAKE_DIR}")
include(TableGen)
include(AddLLVM)
include(AddMLIR)

include_directories(SYSTEM ${LLVM_INCLUDE_DIRS} ${MLIR_INCLUDE_DIRS})
include_directories(${PROJECT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/include
                    ${PROJECT_BINARY_DIR} ${PROJECT_BINARY_DIR}/include)
separate_arguments(qforge_llvm_defs UNIX_COMMAND "${LLVM_DEFINITIONS}")
add_definitions(${qforge_llvm_defs})
if(NOT LLVM_ENABLE_RTTI)
  add_compile_options(-fno-rtti)
endif()

set(QFORGE_LLVM_TOOLS_DIR "${LLVM_TOOLS_BINARY_DIR}")

# qforge_add_library(name SOURCES... [DEPENDS tablegen-targets...]
#                    [LINK_LIBS libs...])
function(qforge_add_library name)
  cmake_parse_arguments(ARG "" "" "DEPENDS;LINK_LIBS" ${ARGN})
  add_library(${name} STATIC ${ARG_UNPARSED_ARGUMENTS})
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
  target_link_libraries(${name} PUBLIC ${ARG_LINK_LIBS} MLIR LLVM)
endfunction()
