# `cmake --install` of the lv2 component into an empty staging root (DESTDIR), as a user would install
# it: -DBUILD_DIR=… -DSTAGE=….
file(REMOVE_RECURSE ${STAGE})
execute_process(COMMAND ${CMAKE_COMMAND} -E env DESTDIR=${STAGE} ${CMAKE_COMMAND} --install ${BUILD_DIR} --component lv2
                RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "cmake --install --component lv2 failed")
endif()
