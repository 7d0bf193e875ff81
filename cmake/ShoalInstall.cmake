# ShoalInstall.cmake - install() rules (GNUInstallDirs) and CPack DEB
# packaging. Two components, two packages:
#   agent -> shoal-agent.deb: bin/shoal-agent, its systemd unit, the firmware
#            profiles, an example config, the docs
#   hub   -> shoal-hub.deb:   bin/shoal-hub, its systemd unit, the example
#            policies and baskets, the docs
# Depends are computed from the binaries' shared libraries (dpkg-shlibdeps),
# so they name exactly the Debian runtime packages the build linked.
#   cmake --install build --prefix /usr --component hub   (or DESTDIR=...)
#   cd build && cpack -G DEB
include(GNUInstallDirs)

install(TARGETS shoal-agent RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT agent)
install(TARGETS shoal-hub RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT hub)

# The units in the tree name /usr/local/bin (a hand install); installed ones
# name the bindir under the prefix given at install time (cpack: /usr).
foreach(part agent hub)
  set(src ${PROJECT_SOURCE_DIR}/${part}/systemd/shoal-${part}.service)
  install(CODE "
    file(READ \"${src}\" unit)
    string(REPLACE \"/usr/local/bin/\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/\" unit \"\${unit}\")
    set(dir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
    file(MAKE_DIRECTORY \"\${dir}\")
    file(WRITE \"\${dir}/shoal-${part}.service\" \"\${unit}\")
    message(STATUS \"Installing: \${dir}/shoal-${part}.service\")"
    COMPONENT ${part})
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/shoal-${part}
          COMPONENT ${part} FILES_MATCHING PATTERN "*.md")
  install(FILES ${PROJECT_SOURCE_DIR}/README.md
          DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/shoal-${part} COMPONENT ${part})
endforeach()

install(DIRECTORY ${PROJECT_SOURCE_DIR}/firmware-profiles/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/shoal/firmware-profiles COMPONENT agent
        FILES_MATCHING PATTERN "*.json")
install(FILES ${PROJECT_SOURCE_DIR}/agent/examples/agent.json
        DESTINATION ${CMAKE_INSTALL_DATADIR}/shoal-agent/examples COMPONENT agent)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/hub/examples/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/shoal-hub/examples COMPONENT hub)

set(CPACK_PACKAGE_NAME shoal)
set(CPACK_PACKAGE_VENDOR "Shoal")
set(CPACK_PACKAGE_CONTACT "Shoal maintainers <shoal@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_COMPONENTS_ALL agent hub)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_AGENT_PACKAGE_NAME shoal-agent)
set(CPACK_DEBIAN_HUB_PACKAGE_NAME shoal-hub)
set(CPACK_COMPONENT_AGENT_DESCRIPTION
    "Shoal store-device agent: offline pricing, sales, forms and work orders synced over MQTT")
set(CPACK_COMPONENT_HUB_DESCRIPTION
    "Shoal hub: ingests store devices' events over MQTT, signs and publishes policies, HQ API")
set(CPACK_DEBIAN_HUB_PACKAGE_RECOMMENDS "mosquitto")
include(CPack)
