# Embeds numbered SQL migrations (NNNN_what.sql) into a C source at build time.
# shoal_embed_migrations(OUT_C SYMBOL DIR) writes OUT_C defining
#   const struct shoal_migration SYMBOL[]; const size_t SYMBOL_count;
# in file-name order; the number in each name must be its position (1, 2, ...).
function(shoal_embed_migrations out_c symbol dir)
  file(GLOB sqls CONFIGURE_DEPENDS "${dir}/[0-9][0-9][0-9][0-9]_*.sql")
  list(SORT sqls)
  add_custom_command(
    OUTPUT ${out_c}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out_c} -DSYMBOL=${symbol} -DDIR=${dir}
            -P ${PROJECT_SOURCE_DIR}/cmake/ShoalEmbedRun.cmake
    DEPENDS ${sqls} ${PROJECT_SOURCE_DIR}/cmake/ShoalEmbedRun.cmake
    COMMENT "Embedding SQL migrations from ${dir}")
endfunction()
