# The freestanding build: hv.efi, a PE32+ UEFI application made with GNU-EFI.
# Objects are compiled with the flags that VMX-root code needs (no red zone, no SSE, no
# exceptions/RTTI, position independent for GNU-EFI's self-relocation), linked with our own
# linker script (boot/hv.lds) and GNU-EFI's crt0, then converted to PE with objcopy.
find_path(GNUEFI_INCLUDE efi.h PATHS /usr/include/efi NO_DEFAULT_PATH)
find_file(GNUEFI_CRT0 crt0-efi-x86_64.o PATHS /usr/lib /usr/lib64 /usr/lib/gnuefi NO_DEFAULT_PATH)
find_library(GNUEFI_LIBEFI efi PATHS /usr/lib /usr/lib64 NO_DEFAULT_PATH)
find_library(GNUEFI_LIBGNUEFI gnuefi PATHS /usr/lib /usr/lib64 NO_DEFAULT_PATH)
if(NOT GNUEFI_INCLUDE OR NOT GNUEFI_CRT0 OR NOT GNUEFI_LIBEFI OR NOT GNUEFI_LIBGNUEFI)
  message(FATAL_ERROR "gnu-efi not found (need /usr/include/efi, crt0-efi-x86_64.o, libefi.a, libgnuefi.a): run scripts/hv setup")
endif()

file(GLOB HV_EFI_ONLY_SOURCES CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/boot/*.cpp
  ${CMAKE_SOURCE_DIR}/arch/x86/native/*.cpp
  ${CMAKE_SOURCE_DIR}/vmx/native/*.cpp
  ${CMAKE_SOURCE_DIR}/core/native/*.cpp
  ${CMAKE_SOURCE_DIR}/lib/native/*.cpp
  ${CMAKE_SOURCE_DIR}/arch/x86/native/*.S)

set(HV_FREESTANDING_FLAGS
  -ffreestanding -fno-exceptions -fno-rtti -fno-threadsafe-statics -fno-use-cxa-atexit
  -fpic -fvisibility=hidden -fno-gnu-unique -fshort-wchar -mno-red-zone -mgeneral-regs-only -maccumulate-outgoing-args
  -fno-stack-protector -fcf-protection=none -fno-asynchronous-unwind-tables -fno-builtin-printf
  -Wall -Wextra -Wno-missing-field-initializers)

add_library(hv_efi_objs OBJECT ${HV_LOGIC_SOURCES} ${HV_EFI_ONLY_SOURCES})
add_dependencies(hv_efi_objs hv_version)
target_include_directories(hv_efi_objs PRIVATE ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/generated)
# <efi.h> is reachable only from boot/ (DESIGN.md); the include path is per source file.
file(GLOB HV_BOOT_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/boot/*.cpp)
set_source_files_properties(${HV_BOOT_SOURCES} PROPERTIES
  INCLUDE_DIRECTORIES "${GNUEFI_INCLUDE};${GNUEFI_INCLUDE}/x86_64"
  COMPILE_DEFINITIONS "GNU_EFI_USE_MS_ABI=1")
target_compile_definitions(hv_efi_objs PRIVATE HV_FREESTANDING=1)
target_compile_options(hv_efi_objs PRIVATE
  $<$<COMPILE_LANGUAGE:CXX>:${HV_FREESTANDING_FLAGS}>
  $<$<COMPILE_LANGUAGE:ASM>:-fpic>)

set(HV_EFI_SO ${CMAKE_BINARY_DIR}/hv.so)
set(HV_EFI ${CMAKE_BINARY_DIR}/hv.efi)
set(HV_LDS ${CMAKE_SOURCE_DIR}/boot/hv.lds)
add_custom_command(OUTPUT ${HV_EFI}
  COMMAND ld -nostdlib -znocombreloc -shared -Bsymbolic --no-undefined -T ${HV_LDS}
          ${GNUEFI_CRT0} "$<TARGET_OBJECTS:hv_efi_objs>"
          ${GNUEFI_LIBEFI} ${GNUEFI_LIBGNUEFI} -o ${HV_EFI_SO}
  COMMAND ${CMAKE_SOURCE_DIR}/scripts/check_efi_image.sh ${HV_EFI_SO}
  COMMAND objcopy -j .text -j .rodata -j .data -j .dynamic -j .dynsym -j .rel -j .rela -j .reloc
          --target efi-app-x86_64 --subsystem=10 ${HV_EFI_SO} ${HV_EFI}
  DEPENDS hv_efi_objs $<TARGET_OBJECTS:hv_efi_objs> ${HV_LDS} ${CMAKE_SOURCE_DIR}/scripts/check_efi_image.sh
  COMMAND_EXPAND_LISTS
  COMMENT "Linking hv.efi")
add_custom_target(hv_efi ALL DEPENDS ${HV_EFI})
