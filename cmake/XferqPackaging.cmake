# Installs what embedders need besides the libraries and headers (installed
# by engine/ and bindings/c/): the CMake package (xferqConfig.cmake, its
# version file, the exported targets xferq::xferq and xferq::xferq_shared)
# and the pkg-config file xferq.pc. Both are relocatable: they find the
# prefix from where they are, so `cmake --install --prefix ANY` works.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(XFERQ_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/xferq)

install(EXPORT xferqTargets
  NAMESPACE xferq::
  DESTINATION ${XFERQ_INSTALL_CMAKEDIR}
  COMPONENT dev)

configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/xferqConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/xferqConfig.cmake
  INSTALL_DESTINATION ${XFERQ_INSTALL_CMAKEDIR})
# 0.x: minor versions may break the API.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/cmake/xferqConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/cmake/xferqConfig.cmake
  ${PROJECT_BINARY_DIR}/cmake/xferqConfigVersion.cmake
  DESTINATION ${XFERQ_INSTALL_CMAKEDIR}
  COMPONENT dev)

# xferq.pc: `-lxferq` finds libxferq.so (dynamic linking: its dependencies
# come along as DT_NEEDED); for a static link use `pkg-config --static` and
# -l:libxferq.a, which Libs.private / Requires.private complete.
set(_xferq_pcdir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH XFERQ_PC_PREFIX_FROM_PCDIR /prefix/${_xferq_pcdir} /prefix)
string(REGEX REPLACE "/$" "" XFERQ_PC_PREFIX_FROM_PCDIR "${XFERQ_PC_PREFIX_FROM_PCDIR}")
# The PostgreSQL backend's client library, when built with it.
set(XFERQ_PC_PQXX "")
if(XFERQ_WITH_POSTGRESQL)
  set(XFERQ_PC_PQXX " libpqxx")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/xferq.pc.in ${PROJECT_BINARY_DIR}/cmake/xferq.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cmake/xferq.pc DESTINATION ${_xferq_pcdir} COMPONENT dev)
unset(_xferq_pcdir)
