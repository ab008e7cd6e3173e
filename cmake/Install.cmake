# `cmake --install build --prefix P` installs what a downstream stack needs
# (docs/INTEGRATION.md):
#   P/bin              qforge-opt, qforge-compile, qforge-run, qforge-calibrate
#   P/lib              the runtime (libqforge_rt.so), the compiler libraries
#                      (static), the C API library, the mlir-opt plugin
#   P/include          qforge_rt.h, qforge/InitAll.h, qforge/Support/*.h,
#                      qforge-c/QForge.h, and qforge/{dialect,passes}/ (the
#                      op and pass declarations, generated .inc included)
#   P/lib/cmake/QForge QForgeConfig.cmake: find_package(QForge) gives the
#                      targets QForge::qforge_rt, QForge::QForgeInit (dialect
#                      + passes + registration), QForge::QForgeCAPI, ...
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(QFORGE_INSTALL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/QForge)

install(FILES runtime/include/qforge_rt.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
target_include_directories(qforge_rt PUBLIC
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
set(qforge_exported qforge_rt)
install(TARGETS qforge-run RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

if(QFORGE_BUILD_COMPILER)
  install(DIRECTORY include/qforge include/qforge-c
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  # The dialect and pass headers include "dialect/..." and "passes/...":
  # installed under include/qforge, which is on the targets' include path.
  install(FILES dialect/QForgeDialect.h dialect/QForgeOps.h
                ${PROJECT_BINARY_DIR}/dialect/QForgeDialect.h.inc
                ${PROJECT_BINARY_DIR}/dialect/QForgeOps.h.inc
                ${PROJECT_BINARY_DIR}/dialect/QForgeEnums.h.inc
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/qforge/dialect)
  install(FILES passes/Passes.h ${PROJECT_BINARY_DIR}/passes/Passes.h.inc
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/qforge/passes)
  foreach(lib QForgeDialect QForgePasses QForgeSupport QForgeInit QForgeCAPI)
    target_include_directories(${lib} INTERFACE
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/qforge>)
  endforeach()
  list(APPEND qforge_exported
       QForgeDialect QForgePasses QForgeSupport QForgeInit QForgeCAPI)
  install(TARGETS qforge-opt qforge-compile qforge-calibrate
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(TARGETS QForgePlugin LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()

install(TARGETS ${qforge_exported} EXPORT QForgeTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT QForgeTargets NAMESPACE QForge::
        DESTINATION ${QFORGE_INSTALL_CMAKE_DIR})

set(QFORGE_CONFIG_HAS_COMPILER ${QFORGE_BUILD_COMPILER})
set(QFORGE_CONFIG_MLIR_DIR "${MLIR_DIR}")
configure_package_config_file(cmake/QForgeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/QForgeConfig.cmake
  INSTALL_DESTINATION ${QFORGE_INSTALL_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/QForgeConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/QForgeConfig.cmake
              ${PROJECT_BINARY_DIR}/QForgeConfigVersion.cmake
        DESTINATION ${QFORGE_INSTALL_CMAKE_DIR})

# Installed executables find the installed runtime next to them.
set_target_properties(qforge-run PROPERTIES
  INSTALL_RPATH "\$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
