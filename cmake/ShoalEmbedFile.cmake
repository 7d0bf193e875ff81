# Embeds a file (the dashboard page) into a C source at build time.
# shoal_embed_file(OUT_C SYMBOL FILE) writes OUT_C defining
#   const unsigned char SYMBOL[];  (the bytes, then a NUL)
#   const size_t SYMBOL_len;       (the byte count, without the NUL)
# and regenerates it whenever FILE changes. The same file runs as the
# generator script when invoked with -DSHOAL_EMBED_FILE_RUN=1.
if(SHOAL_EMBED_FILE_RUN)
  file(READ "${IN}" hex HEX)
  string(LENGTH "${hex}" nhex)
  math(EXPR nbytes "${nhex} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){24})" "\\1\n  " bytes "${bytes}")
  file(WRITE "${OUT}.tmp"
       "/* Generated from ${IN}; do not edit. */\n#include <stddef.h>\n\n"
       "const unsigned char ${SYMBOL}[] = {\n  ${bytes}0x00};\n"
       "const size_t ${SYMBOL}_len = ${nbytes};\n")
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
