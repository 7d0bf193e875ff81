# Embeds files into C sources at build time.
#
# shoal_embed_file(OUT_C SYMBOL FILE) writes OUT_C defining
#   const unsigned char SYMBOL[];  (the bytes, then a NUL)
#   const size_t SYMBOL_len;       (the byte count, without the NUL)
#
# shoal_embed_dir(OUT_C SYMBOL DIR) embeds every file under DIR (the
# dashboard's static files) and writes OUT_C defining
#   const struct hub_asset SYMBOL[];  ({"relative/path", bytes, len})
#   const size_t SYMBOL_count;
# sorted by path; "struct hub_asset" is declared in hub/hub_dashboard.h.
#
# Both regenerate when an input changes (shoal_embed_dir also when a file is
# added or removed: the glob is CONFIGURE_DEPENDS). The same file runs as
# the generator script when invoked with -DSHOAL_EMBED_FILE_RUN=1 (one file)
# or -DSHOAL_EMBED_DIR_RUN=1 (a folder).

# Appends to variable `out` the C array `name` holding the bytes of `in`.
function(_shoal_embed_bytes out name in)
  file(READ "${in}" hex HEX)
  string(LENGTH "${hex}" nhex)
  math(EXPR nbytes "${nhex} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){24})" "\\1\n  " bytes "${bytes}")
  set(${out} "${${out}}static const unsigned char ${name}[] = {\n  ${bytes}0x00};\n" PARENT_SCOPE)
  set(${name}_len ${nbytes} PARENT_SCOPE)
endfunction()

if(SHOAL_EMBED_FILE_RUN)
  set(body "/* Generated from ${IN}; do not edit. */\n#include <stddef.h>\n\n")
  _shoal_embed_bytes(body data "${IN}")
  string(REPLACE "static const unsigned char data[]" "const unsigned char ${SYMBOL}[]" body "${body}")
  string(APPEND body "const size_t ${SYMBOL}_len = ${data_len};\n")
  file(WRITE "${OUT}.tmp" "${body}")
  file(RENAME "${OUT}.tmp" "${OUT}")
  return()
endif()

if(SHOAL_EMBED_DIR_RUN)
  file(GLOB_RECURSE files RELATIVE "${DIR}" "${DIR}/*")
  list(SORT files)
  set(body "/* Generated from ${DIR}; do not edit. */\n#include \"hub_dashboard.h\"\n\n")
  set(table "")
  set(i 0)
  foreach(rel ${files})
    _shoal_embed_bytes(body f${i} "${DIR}/${rel}")
    string(APPEND table "  {\"${rel}\", f${i}, ${f${i}_len}},\n")
    math(EXPR i "${i} + 1")
  endforeach()
  string(APPEND body "\nconst struct hub_asset ${SYMBOL}[] = {\n${table}};\n")
  string(APPEND body "const size_t ${SYMBOL}_count = ${i};\n")
  file(WRITE "${OUT}.tmp" "${body}")
  file(RENAME "${OUT}.tmp" "${OUT}")
  return()
endif()

function(shoal_embed_file out_c symbol file)
  add_custom_command(
    OUTPUT ${out_c}
    COMMAND ${CMAKE_COMMAND} -DSHOAL_EMBED_FILE_RUN=1 -DOUT=${out_c} -DSYMBOL=${symbol}
            -DIN=${file} -P ${CMAKE_CURRENT_FUNCTION_LIST_FILE}
    DEPENDS ${file} ${CMAKE_CURRENT_FUNCTION_LIST_FILE}
    COMMENT "Embedding ${file}")
endfunction()

function(shoal_embed_dir out_c symbol dir)
  file(GLOB_RECURSE files CONFIGURE_DEPENDS "${dir}/*")
  add_custom_command(
    OUTPUT ${out_c}
    COMMAND ${CMAKE_COMMAND} -DSHOAL_EMBED_DIR_RUN=1 -DOUT=${out_c} -DSYMBOL=${symbol}
            -DDIR=${dir} -P ${CMAKE_CURRENT_FUNCTION_LIST_FILE}
    DEPENDS ${files} ${CMAKE_CURRENT_FUNCTION_LIST_FILE}
    COMMENT "Embedding the files under ${dir}")
endfunction()
