# GoogleTest: Debian's packaged source (/usr/src/googletest) is built as part
# of the project, so the same recipe works on the GPU machine, which carries
# the source in an ignored folder (QFORGE_GTEST_SOURCE_DIR).
set(QFORGE_GTEST_SOURCE_DIR "/usr/src/googletest" CACHE PATH
    "GoogleTest source tree to build the unit tests with")
if(EXISTS "${QFORGE_GTEST_SOURCE_DIR}/CMakeLists.txt")
  set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
  set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
  add_subdirectory(${QFORGE_GTEST_SOURCE_DIR}
                   ${PROJECT_BINARY_DIR}/third_party/googletest EXCLUDE_FROM_ALL)
  include(GoogleTest)
  set(QFORGE_HAVE_GTEST ON)
else()
  message(WARNING "GoogleTest not found at ${QFORGE_GTEST_SOURCE_DIR}: "
                  "unit tests are not built")
  set(QFORGE_HAVE_GTEST OFF)
endif()
