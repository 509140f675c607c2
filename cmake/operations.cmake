# What operators get: the version and commit baked into the binary, and the .deb.

# common/version.cc includes berth_version.h, rewritten (only when it changes) at every build.
set(BERTH_GENERATED ${CMAKE_BINARY_DIR}/generated)
add_custom_target(berth_version_header
  COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_SOURCE_DIR} -DOUT=${BERTH_GENERATED}/berth_version.h
          -DVERSION=${PROJECT_VERSION} -P ${CMAKE_SOURCE_DIR}/cmake/version.cmake
  BYPRODUCTS ${BERTH_GENERATED}/berth_version.h
  COMMENT "Stamping the version and git commit")
add_dependencies(berth_common berth_version_header)
target_include_directories(berth_common PRIVATE ${BERTH_GENERATED})

# The dashboard (web/) compiled into the API library: berth serves it with no files beside it.
file(GLOB_RECURSE berth_web_files CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/web/*)
add_custom_command(
  OUTPUT ${BERTH_GENERATED}/web_assets.cc
  COMMAND ${CMAKE_COMMAND} -DDIR=${CMAKE_SOURCE_DIR}/web -DOUT=${BERTH_GENERATED}/web_assets.cc
          -P ${CMAKE_SOURCE_DIR}/cmake/embed_web.cmake
  DEPENDS ${berth_web_files} ${CMAKE_SOURCE_DIR}/cmake/embed_web.cmake
  COMMENT "Embedding the dashboard (web/)")
target_sources(berth_api PRIVATE ${BERTH_GENERATED}/web_assets.cc)

# `make package`: a .deb (CPack) with the binaries, the bundled busybox image, the systemd unit
# and the default settings (a conffile). Installing does not rebuild: `make package` builds first.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)
install(TARGETS berth berth-shim RUNTIME DESTINATION bin)
if(BERTH_SHIM_WAIT)  # x86-64 only (CMakeLists.txt)
  install(TARGETS berth-shim-wait RUNTIME DESTINATION bin)
endif()
install(DIRECTORY ${BERTH_BUNDLED_IMAGES}/ DESTINATION share/berth/images)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/berth.service DESTINATION lib/systemd/system)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/settings.json DESTINATION /etc/berth
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION share/doc/berth)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME berth)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "berth maintainers <berth@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "containerized batch jobs behind an HTTP API (crun)")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_STRIP_FILES TRUE)  # the build keeps its debug info; the package does not
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # library dependencies from the binaries (dpkg-shlibdeps)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "crun | runc")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "golang-github-containers-common")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/conffiles ${CMAKE_SOURCE_DIR}/packaging/postinst
    ${CMAKE_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)

# Bash completion, written by the binary from its own command table (the one --help shows), so
# it never falls behind the commands; the package installs it where bash-completion looks.
set(BERTH_COMPLETION ${CMAKE_BINARY_DIR}/berth.bash-completion)
add_custom_command(
  OUTPUT ${BERTH_COMPLETION}
  COMMAND sh -c "$<TARGET_FILE:berth> completion bash > ${BERTH_COMPLETION}.tmp && mv ${BERTH_COMPLETION}.tmp ${BERTH_COMPLETION}"
  DEPENDS berth
  VERBATIM
  COMMENT "Generating the bash completion (berth completion bash)")
add_custom_target(berth_completion ALL DEPENDS ${BERTH_COMPLETION})
install(FILES ${BERTH_COMPLETION} DESTINATION share/bash-completion/completions RENAME berth)
