# Finds every external dependency and turns each into an imported target.
# A missing dependency stops configuration with the Debian package to install.
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config (or run scripts/deps.sh)")
endif()

function(shoal_pkg target module debpkg)
  pkg_check_modules(${target} IMPORTED_TARGET ${module})
  if(NOT ${target}_FOUND)
    message(FATAL_ERROR "${module} not found: apt-get install ${debpkg} (or run scripts/deps.sh)")
  endif()
endfunction()

shoal_pkg(MOSQ libmosquitto libmosquitto-dev)
shoal_pkg(SQLITE sqlite3 libsqlite3-dev)
shoal_pkg(CJSON libcjson libcjson-dev)
shoal_pkg(CURL libcurl libcurl4-openssl-dev)
shoal_pkg(MHD libmicrohttpd libmicrohttpd-dev)
shoal_pkg(PQ libpq libpq-dev)

# mbedTLS 2.28 ships no pkg-config file on Debian 12.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/ssl.h)
find_library(MBEDTLS_LIB mbedtls)
find_library(MBEDX509_LIB mbedx509)
find_library(MBEDCRYPTO_LIB mbedcrypto)
if(NOT MBEDTLS_INCLUDE_DIR OR NOT MBEDTLS_LIB OR NOT MBEDX509_LIB OR NOT MBEDCRYPTO_LIB)
  message(FATAL_ERROR "mbedTLS not found: apt-get install libmbedtls-dev (or run scripts/deps.sh)")
endif()
add_library(shoal_mbedtls INTERFACE)
target_include_directories(shoal_mbedtls INTERFACE ${MBEDTLS_INCLUDE_DIR})
target_link_libraries(shoal_mbedtls INTERFACE ${MBEDTLS_LIB} ${MBEDX509_LIB} ${MBEDCRYPTO_LIB})

if(SHOAL_BUILD_TESTS)
  shoal_pkg(CMOCKA cmocka libcmocka-dev)
endif()
