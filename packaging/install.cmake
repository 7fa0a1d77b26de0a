# `cmake --install` and `cpack -G DEB` (docs/deployment.md, "Getting Tessera onto a server"):
# the binaries, the documentation, the systemd units, the nightly job and the example settings.
# The dashboard is embedded in the binary: no web files to install.
#
# The units name the installed paths, so they are written at install time for the prefix of
# that installation (`cmake --install BUILD --prefix /usr` included): /usr gives /usr/bin,
# /usr/libexec and /etc; any other prefix P gives P/bin, P/libexec and P/etc.
include(GNUInstallDirs)

if(TARGET tessera)
  install(TARGETS tessera tessera-worker RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")
# The shipped segment rules and column mappings (built in; copies to start a file of one's own).
install(DIRECTORY config/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/config)
install(FILES packaging/systemd/tessera.sysusers DESTINATION lib/sysusers.d RENAME tessera.conf)
install(FILES packaging/systemd/tessera-nightly.timer DESTINATION lib/systemd/system)
install(CODE "set(TESSERA_PACKAGING \"${PROJECT_SOURCE_DIR}/packaging\")")
install(SCRIPT packaging/install_configured.cmake)

# The Debian package: cmake -S . -B build-deb; cmake --build build-deb; cd build-deb && cpack
# -G DEB.
set(CPACK_PACKAGE_NAME tessera)
set(CPACK_PACKAGE_VENDOR "Tessera")
set(CPACK_PACKAGE_CONTACT "Tessera maintainers <tessera@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "privacy-first customer data platform: CLV, RFM segments, audiences, BI views")
set(CPACK_PACKAGE_DESCRIPTION
    "Turns a retailer's order exports into pseudonymous customer profiles, CLV, RFM scores, \
named segments and audiences; serves them over an HTTP API and a dashboard (tessera serve) \
and to BI tools through read-only PostgreSQL views.")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
# A Debian package installs under /usr, whatever the build's prefix; installed with DESTDIR, so
# that the units name /usr's paths and /etc lands inside the package.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# No debugging symbols in the package (the binary shrinks from ~140 MB to ~5 MB).
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
# The libraries' packages from the binaries' own dependencies (dpkg-shlibdeps).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
# sqlite3 and pg_dump for the nightly backups; the PostgreSQL server where it is the store.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "sqlite3, postgresql-client")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql")
# The settings are a conffile: written by packaging/cpack_config.cmake at packaging time, for
# the prefix packaged.
set(CPACK_TESSERA_CONFFILES ${PROJECT_BINARY_DIR}/packaging/debian/conffiles)
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_SOURCE_DIR}/packaging/cpack_config.cmake)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CPACK_TESSERA_CONFFILES}
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_GENERATOR DEB)
include(CPack)
