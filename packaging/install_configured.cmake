# Run by `cmake --install` (packaging/install.cmake): writes the systemd units, the nightly
# job and the example settings for this installation's prefix. TESSERA_PACKAGING: the source
# folder packaging/.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(SYSCONFDIR /etc)
else()
  set(SYSCONFDIR ${CMAKE_INSTALL_PREFIX}/etc)
endif()
set(BINDIR ${CMAKE_INSTALL_PREFIX}/bin)
set(LIBEXECDIR ${CMAKE_INSTALL_PREFIX}/libexec)
set(DOCDIR ${CMAKE_INSTALL_PREFIX}/share/doc/tessera)
set(root "$ENV{DESTDIR}")

function(tessera_install_configured source destination mode)
  configure_file(${TESSERA_PACKAGING}/${source} ${root}${destination} @ONLY)
  file(CHMOD ${root}${destination} PERMISSIONS ${mode})
  message(STATUS "Installing: ${root}${destination}")
endfunction()

set(rw OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
set(rwx OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
tessera_install_configured(systemd/tessera.service.in
                           ${CMAKE_INSTALL_PREFIX}/lib/systemd/system/tessera.service "${rw}")
tessera_install_configured(systemd/tessera-nightly.service.in
                           ${CMAKE_INSTALL_PREFIX}/lib/systemd/system/tessera-nightly.service "${rw}")
tessera_install_configured(tessera-nightly.in ${LIBEXECDIR}/tessera/tessera-nightly "${rwx}")
# The settings: never overwritten by a later install (the Debian package marks them a
# conffile, which dpkg asks about instead).
if(EXISTS ${root}${SYSCONFDIR}/tessera/tessera.env)
  message(STATUS "Kept: ${root}${SYSCONFDIR}/tessera/tessera.env")
else()
  tessera_install_configured(tessera.env ${SYSCONFDIR}/tessera/tessera.env
                             "OWNER_READ;OWNER_WRITE;GROUP_READ")
endif()
