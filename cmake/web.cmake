# The dashboard: web/ is built with npm (scripts/build-web) and embedded into the server
# module as a generated source implementing FindWebAsset (cmake/embed_web.cmake). With
# TESSERA_BUILD_WEB=OFF (no Node.js needed) the table is empty and `tessera serve` serves the
# API only. Included after the modules are defined; does nothing where there is no server
# module (the fuzz build).
option(TESSERA_BUILD_WEB "Build the dashboard (web/, needs Node.js and npm) and embed it" ON)

if(TARGET tessera_server)
  set(web_assets_cc ${PROJECT_BINARY_DIR}/web_assets.cc)
  set(embed_web ${PROJECT_SOURCE_DIR}/cmake/embed_web.cmake)
  if(TESSERA_BUILD_WEB)
    find_program(TESSERA_NPM npm)
    find_program(TESSERA_NODE node)
    if(NOT TESSERA_NPM OR NOT TESSERA_NODE)
      message(FATAL_ERROR "The dashboard needs Node.js and npm: run scripts/install-deps, "
                          "or configure with -DTESSERA_BUILD_WEB=OFF for a binary without it.")
    endif()
    set(web ${PROJECT_SOURCE_DIR}/web)
    file(GLOB_RECURSE web_sources CONFIGURE_DEPENDS ${web}/src/*)
    add_custom_command(
      OUTPUT ${web_assets_cc}
      COMMAND bash ${PROJECT_SOURCE_DIR}/scripts/build-web ${PROJECT_BINARY_DIR}/web
      COMMAND ${CMAKE_COMMAND} -DSRC=${PROJECT_BINARY_DIR}/web -DOUT=${web_assets_cc} -P ${embed_web}
      DEPENDS ${web_sources} ${web}/package.json ${web}/package-lock.json ${web}/build.mjs
              ${web}/tsconfig.json ${PROJECT_SOURCE_DIR}/scripts/build-web ${embed_web}
      COMMENT "Building the dashboard (web/, npm) and embedding it"
      USES_TERMINAL
      VERBATIM)
  else()
    add_custom_command(
      OUTPUT ${web_assets_cc}
      COMMAND ${CMAKE_COMMAND} -DOUT=${web_assets_cc} -P ${embed_web}
      DEPENDS ${embed_web}
      COMMENT "No dashboard in this build (TESSERA_BUILD_WEB=OFF)"
      VERBATIM)
  endif()
  target_sources(tessera_server PRIVATE ${web_assets_cc})
endif()
