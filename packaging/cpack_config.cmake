# CPACK_PROJECT_CONFIG_FILE (packaging/install.cmake): run by cpack for the prefix it packages.
if(NOT CPACK_PACKAGING_INSTALL_PREFIX OR CPACK_PACKAGING_INSTALL_PREFIX STREQUAL "/usr")
  set(sysconfdir /etc)
else()
  set(sysconfdir ${CPACK_PACKAGING_INSTALL_PREFIX}/etc)
endif()
file(WRITE ${CPACK_TESSERA_CONFFILES} "${sysconfdir}/tessera/tessera.env\n")
