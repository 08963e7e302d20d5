# Embeds files into a C++ translation unit at build time (no runtime file read).
#
#   flashsaga_embed(OUT_SOURCE FUNCTION name FILE path [FUNCTION name FILE path ...])
#
# Generates ${CMAKE_CURRENT_BINARY_DIR}/<first function>_embedded.cc defining, in namespace
# flashsaga::embedded, `std::string_view name()` for each file (its exact bytes), and sets
# OUT_SOURCE to it. The file is regenerated when an embedded file changes.
function(flashsaga_embed out_source)
  set(pairs ${ARGN})
  list(LENGTH pairs n)
  set(args "")
  set(deps "")
  set(first "")
  math(EXPR last "${n} - 1")
  foreach(i RANGE 0 ${last} 4)
    math(EXPR fi "${i} + 1")
    math(EXPR pi "${i} + 3")
    list(GET pairs ${fi} fn)
    list(GET pairs ${pi} file)
    if(first STREQUAL "")
      set(first ${fn})
    endif()
    list(APPEND args "${fn}=${file}")
    list(APPEND deps "${file}")
  endforeach()
  set(output ${CMAKE_CURRENT_BINARY_DIR}/${first}_embedded.cc)
  string(REPLACE ";" "|" joined "${args}")
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DOUTPUT=${output} "-DPAIRS=${joined}"
            -P ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    DEPENDS ${deps} ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    COMMENT "Embedding ${first} and others into ${first}_embedded.cc"
    VERBATIM)
  set(${out_source} ${output} PARENT_SCOPE)
endfunction()
