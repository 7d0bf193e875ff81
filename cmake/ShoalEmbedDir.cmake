# Embeds every file under a folder (the dashboard web app) into one C source
# at build time. shoal_embed_dir(OUT_C SYMBOL DIR) writes OUT_C defining
#   const struct shoal_asset SYMBOL[];  {path ("/app.js"), bytes, len}
#   const size_t SYMBOL_count;
# (struct shoal_asset is declared in hub/hub_assets.h) and regenerates it
# when any file in DIR changes or is added (CONFIGURE_DEPENDS glob). Files
# whose name starts with "." are skipped. The same file runs as the
# generator script when invoked with -DSHOAL_EMBED_DIR_RUN=1.
if(SHOAL_EMBED_DIR_RUN)
  file(GLOB_RECURSE files RELATIVE "${DIR}" "${DIR}/*")
  list(SORT files)
  set(body "/* Generated from ${DIR}; do not edit. */\n#include <stddef.h>\n\n"
           "struct shoal_asset {\n  const char *path;\n  const unsigned char *bytes;\n  size_t len;\n};\n\n")
  set(table "")
  set(i 0)
  set(count 0)
  foreach(f ${files})
    get_filename_component(base "${f}" NAME)
    if(base MATCHES "^\\.")
      continue()
    endif()
    file(READ "${DIR}/${f}" hex HEX)
    string(LENGTH "${hex}" nhex)
    math(EXPR nbytes "${nhex} / 2")
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
    string(APPEND body "static const unsigned char a${i}[] = {${bytes}0x00};\n")
    string(APPEND table "  {\"/${f}\", a${i}, ${nbytes}},\n")
    math(EXPR i "${i} + 1")
    math(EXPR count "${count} + 1")
  endforeach()
  string(APPEND body "\nconst struct shoal_asset ${SYMBOL}[] = {\n${table}  {NULL, NULL, 0}};\n"
                     "const size_t ${SYMBOL}_count = ${count};\n")
  file(WRITE "${OUT}.tmp" "${body}")
  file(RENAME "${OUT}.tmp" "${OUT}")
  return()
endif()

function(shoal_embed_dir out_c symbol dir)
  file(GLOB_RECURSE deps CONFIGURE_DEPENDS "${dir}/*")
  add_custom_command(
    OUTPUT ${out_c}
    COMMAND ${CMAKE_COMMAND} -DSHOAL_EMBED_DIR_RUN=1 -DOUT=${out_c} -DSYMBOL=${symbol}
            -DDIR=${dir} -P ${CMAKE_CURRENT_FUNCTION_LIST_FILE}
    DEPENDS ${deps} ${CMAKE_CURRENT_FUNCTION_LIST_FILE}
    COMMENT "Embedding ${dir}")
endfunction()
