# The Debian package (CPack DEB), from the `runtime` component of cmake/install.cmake:
#
#   cmake --build --preset release && (cd build/release && cpack -G DEB)
#   lintian build/release/package/flashsaga_*.deb
#
# It holds /usr/bin/flashsaga (stripped), /lib/systemd/system/flashsaga.service,
# /etc/flashsaga/flashsaga.toml (a conffile) and /usr/share/doc/flashsaga. Its maintainer
# scripts (tools/deploy/debian/) create the flashsaga system user and /var/lib/flashsaga (0700,
# owned by it), and enable and start the service where systemd runs. Depends: from
# dpkg-shlibdeps, plus adduser. ctest `package_install` builds it, runs lintian and installs it.
set(FLASHSAGA_PACKAGE_MAINTAINER "flashsaga maintainers <flashsaga@example.org>"
    CACHE STRING "The Debian package's Maintainer field (and its changelog's)")
set(_fs_debian ${PROJECT_SOURCE_DIR}/tools/deploy/debian)

# /usr/share/doc/flashsaga: copyright, and the changelog gzipped as Debian wants it (-9n).
configure_file(${_fs_debian}/changelog.in ${CMAKE_BINARY_DIR}/flashsaga-package/changelog @ONLY)
install(FILES ${_fs_debian}/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)
# The man page goes to share/man/man1, also gzipped (at configure time, again when it changes).
function(_fs_install_gzipped source destination)
  get_filename_component(name ${source} NAME)
  set(gz ${CMAKE_BINARY_DIR}/flashsaga-package/${name}.gz)
  execute_process(COMMAND gzip -9nc ${source} OUTPUT_FILE ${gz} COMMAND_ERROR_IS_FATAL ANY)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${source})
  install(FILES ${gz} DESTINATION ${destination} COMPONENT runtime)
endfunction()
_fs_install_gzipped(${CMAKE_BINARY_DIR}/flashsaga-package/changelog ${CMAKE_INSTALL_DOCDIR})
_fs_install_gzipped(${_fs_debian}/flashsaga.1 ${CMAKE_INSTALL_MANDIR}/man1)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME flashsaga)
set(CPACK_PACKAGE_VENDOR "flashsaga")
set(CPACK_PACKAGE_CONTACT "${FLASHSAGA_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/package)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "flash-sale order engine over shared-memory rings")
# The extended description (CPack puts the summary first as the synopsis, and indents it).
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "flashsaga runs the order saga of an e-commerce shop (user, point, product,
coupon, order, payment) as six processes exchanging fixed-layout messages over
shared-memory rings, each domain keeping its own LMDB journal, behind an HTTP
gateway. Stock is reserved by compare-and-swap where a request enters, so a
sold-out answer costs one load.
.
This package runs one deployment as the systemd service flashsaga.")
# Install into a staging DESTDIR with prefix /usr, so /etc and /lib/systemd/system are the
# system places (cmake/install.cmake decides them at install time from the prefix).
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
    GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME flashsaga)
set(CPACK_DEBIAN_RUNTIME_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${_fs_debian}/conffiles ${_fs_debian}/postinst ${_fs_debian}/prerm ${_fs_debian}/postrm)
include(CPack)
