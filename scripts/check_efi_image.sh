#!/usr/bin/env bash
# Checks the linked hv.so before objcopy turns it into hv.efi (see boot/hv.lds):
#  - every allocated section is one that objcopy copies (no orphan silently lost),
#  - only R_X86_64_RELATIVE dynamic relocations (all that GNU-EFI's _relocate applies),
#  - no global constructors (.init_array is never run in the freestanding build).
set -euo pipefail
so=$1
fail=0
allowed=' .hash .gnu.hash .eh_frame .text .reloc .rodata .data .note.gnu.build-id .dynamic .rela .dynsym .dynstr '
while read -r name flags; do
  [[ $flags == *A* ]] || continue
  if [[ $allowed != *" $name "* ]]; then
    echo "check_efi_image: allocated section '$name' is not placed by boot/hv.lds" >&2; fail=1
  fi
done < <(readelf -SW "$so" | awk '/^ *\[ *[0-9]+\]/ { sub(/^ *\[ *[0-9]+\] */, ""); print $1, $7 }')
bad=$(readelf -rW "$so" | awk '/^[0-9a-f]+ +[0-9a-f]+ R_X86_64_/ && $3 != "R_X86_64_RELATIVE" {print $3}' | sort -u)
if [ -n "$bad" ]; then
  echo "check_efi_image: relocations GNU-EFI cannot apply: $bad" >&2; fail=1
fi
init=$(nm "$so" | awk '$3=="__hv_init_array_start"{s=$1} $3=="__hv_init_array_end"{e=$1} END{print (s==e) ? "empty" : "used"}')
if [ "$init" != empty ]; then
  echo "check_efi_image: global constructors present (.init_array): make those objects constinit" >&2; fail=1
fi
exit $fail
