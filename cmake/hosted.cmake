# The hosted build: the project's logic as a static library for Linux, compiled with
# AddressSanitizer and UndefinedBehaviorSanitizer, plus the fake CPU (arch/x86/fake) that
# tests use in place of the hardware.
set(HV_SANITIZE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)

file(GLOB HV_FAKE_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/arch/x86/fake/*.cpp)
add_library(hv_hosted STATIC ${HV_LOGIC_SOURCES} ${HV_FAKE_SOURCES})
add_dependencies(hv_hosted hv_version)
target_include_directories(hv_hosted PUBLIC ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/generated)
target_compile_definitions(hv_hosted PUBLIC HV_HOSTED=1)
target_compile_options(hv_hosted PUBLIC ${HV_SANITIZE} -Wall -Wextra -Wno-missing-field-initializers)
target_link_options(hv_hosted PUBLIC ${HV_SANITIZE})
find_package(Threads REQUIRED)
target_link_libraries(hv_hosted PUBLIC Threads::Threads)

# Benchmarks measure the logic as it ships: optimised, without sanitizers.
add_library(hv_hosted_bench STATIC ${HV_LOGIC_SOURCES} ${HV_FAKE_SOURCES})
add_dependencies(hv_hosted_bench hv_version)
target_include_directories(hv_hosted_bench PUBLIC ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/generated)
target_compile_definitions(hv_hosted_bench PUBLIC HV_HOSTED=1 NDEBUG)
target_compile_options(hv_hosted_bench PRIVATE -O2)
target_link_libraries(hv_hosted_bench PUBLIC Threads::Threads)
