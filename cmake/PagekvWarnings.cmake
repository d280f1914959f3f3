# pagekv_set_warnings(target): the project's warning flags, -Werror when asked.
function(pagekv_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(PAGEKV_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
