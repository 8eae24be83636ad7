# XferqDeb.cmake — `cpack -G DEB` builds two Debian packages from the install
# components:
#   xferq         (component runtime): the xferq command, libxferq.so.0, the
#                 Python package, the systemd units, the man page and the bash
#                 completion;
#   libxferq-dev  (components dev and Unspecified — the engine's own install
#                 rules name none): headers, libxferq.a, libxferq.so, the CMake
#                 package and xferq.pc.
# Configure with -DCMAKE_INSTALL_PREFIX=/usr so the library lands in Debian's
# multiarch directory (scripts/check-deb.sh does).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME xferq)
set(CPACK_PACKAGE_VENDOR "xferq")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "xferq maintainers <xferq@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "BITS-like background transfer queue")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)

set(CPACK_COMPONENTS_ALL runtime dev Unspecified)
set(CPACK_COMPONENTS_GROUPING ONE_PER_GROUP)
include(CPackComponent)
cpack_add_component_group(runtime)
cpack_add_component_group(development)
cpack_add_component(runtime GROUP runtime)
cpack_add_component(dev GROUP development DEPENDS runtime)
cpack_add_component(Unspecified GROUP development)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME xferq)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION net)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "python3")
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
"BITS-like background transfer queue (command, library, Python module)
 xferq keeps transfer jobs in one SQLite file and runs them on a libcurl
 worker, surviving crashes, with BITS's states and error codes. This package
 has the xferq command (with `xferq serve`: a JSON API, live events and a web
 dashboard), the shared library libxferq.so.0, the Python module, systemd
 units, the man page and the bash completion.")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libxferq-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "xferq (= ${PROJECT_VERSION}), libsqlite3-dev, libsqlitecpp-dev, libcurl4-openssl-dev")
if(XFERQ_WITH_POSTGRESQL)
  string(APPEND CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS ", libpqxx-dev")
endif()
set(CPACK_DEBIAN_DEVELOPMENT_DESCRIPTION
"BITS-like background transfer queue (development files)
 Headers, the static library libxferq.a, the libxferq.so link, the CMake
 package (find_package(xferq)) and the pkg-config file (xferq.pc).")
# ldconfig runs when the package with the shared library is installed or removed.
file(WRITE ${PROJECT_BINARY_DIR}/cpack/triggers "activate-noawait ldconfig\n")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA ${PROJECT_BINARY_DIR}/cpack/triggers)
# Last: CPack writes its configuration from the variables above.
include(CPack)
