# Writes OUT (a C++ source) with the commit the build was made from; run at every build, the file is
# rewritten only when its content changes, so an unchanged tree recompiles nothing.
execute_process(COMMAND git -C "${SOURCE_DIR}" rev-parse HEAD OUTPUT_VARIABLE FS_COMMIT
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR FS_COMMIT STREQUAL "")
  set(FS_COMMIT "unknown")
  set(FS_DIRTY "false")
else()
  execute_process(COMMAND git -C "${SOURCE_DIR}" status --porcelain --untracked-files=no OUTPUT_VARIABLE changes
                  ERROR_QUIET)
  if(changes STREQUAL "")
    set(FS_DIRTY "false")
  else()
    set(FS_DIRTY "true")
  endif()
endif()
configure_file("${IN}" "${OUT}" @ONLY)
