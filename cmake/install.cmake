# Install rules and the exported CMake package (included last from the top CMakeLists.txt).
#
#   cmake --install build/release --prefix /opt/flashsaga
#
# Component `runtime`: bin/flashsaga, the systemd unit (lib/systemd/system/flashsaga.service)
# and the config (etc/flashsaga/flashsaga.toml); with prefix /usr the last two go to the system
# places, /lib/systemd/system and /etc (decided at install time, so `--prefix` and the Debian
# package, cmake/package.cmake, both get them right). The unit's ExecStart and --config name
# the installed binary and config.
# Component `dev`: the client library and what it links (static), its public headers under
# include/flashsaga, and lib/cmake/flashsaga: find_package(flashsaga) -> flashsaga::client.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS flashsaga RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)

set(FLASHSAGA_DEPLOY_DIR ${PROJECT_SOURCE_DIR}/tools/deploy)
install(CODE "set(FLASHSAGA_DEPLOY_DIR \"${FLASHSAGA_DEPLOY_DIR}\")
              set(FLASHSAGA_STAGE_DIR \"${CMAKE_BINARY_DIR}/flashsaga-package\")
              set(FLASHSAGA_BINDIR \"${CMAKE_INSTALL_BINDIR}\")" COMPONENT runtime)
install(CODE [[
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(_fs_etc "/etc/flashsaga")
    set(_fs_units "/lib/systemd/system")
  else()
    set(_fs_etc "${CMAKE_INSTALL_PREFIX}/etc/flashsaga")
    set(_fs_units "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
  endif()
  file(INSTALL DESTINATION "${_fs_etc}" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES "${FLASHSAGA_DEPLOY_DIR}/flashsaga.toml")
  file(READ "${FLASHSAGA_DEPLOY_DIR}/flashsaga.service" _fs_unit)
  if(NOT _fs_unit MATCHES "\nExecStart=/usr/bin/flashsaga run --config /etc/flashsaga/")
    message(FATAL_ERROR "tools/deploy/flashsaga.service: ExecStart no longer starts with "
                        "'/usr/bin/flashsaga run --config /etc/flashsaga/' (cmake/install.cmake rewrites it)")
  endif()
  string(REPLACE "\nExecStart=/usr/bin/flashsaga run --config /etc/flashsaga/"
         "\nExecStart=${CMAKE_INSTALL_PREFIX}/${FLASHSAGA_BINDIR}/flashsaga run --config ${_fs_etc}/"
         _fs_unit "${_fs_unit}")
  # One staging file per destination: a package build and an install may run at once.
  string(MD5 _fs_key "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}")
  set(_fs_staged "${FLASHSAGA_STAGE_DIR}/unit-${_fs_key}/flashsaga.service")
  file(WRITE "${_fs_staged}" "${_fs_unit}")
  file(INSTALL DESTINATION "${_fs_units}" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES "${_fs_staged}")
]] COMPONENT runtime)

# The client library and every library it links, exported as flashsaga::<short name>.
set(_fs_client_libs flashsaga_client flashsaga_engine flashsaga_runtime flashsaga_check flashsaga_domains
                    flashsaga_ipc flashsaga_journal flashsaga_base)
foreach(lib IN LISTS _fs_client_libs)
  string(REPLACE "flashsaga_" "" short ${lib})
  set_target_properties(${lib} PROPERTIES EXPORT_NAME ${short})
endforeach()
install(TARGETS ${_fs_client_libs} EXPORT flashsagaTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/flashsaga)
# Public headers: those of the client library's layers (engine/client.h and what it includes),
# each folder's own headers (not the gateway's, the runtime's or the domain logics').
foreach(dir engine/base ipc journal domains engine)
  file(GLOB _fs_headers CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${dir}/*.h)
  install(FILES ${_fs_headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/flashsaga/${dir} COMPONENT dev)
endforeach()

set(_fs_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/flashsaga)
install(EXPORT flashsagaTargets NAMESPACE flashsaga:: DESTINATION ${_fs_cmake_dir} COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/flashsagaConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/flashsagaConfig.cmake
                              INSTALL_DESTINATION ${_fs_cmake_dir})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/flashsagaConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/flashsagaConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/flashsagaConfigVersion.cmake
        DESTINATION ${_fs_cmake_dir} COMPONENT dev)
