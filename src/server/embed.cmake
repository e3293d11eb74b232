# Writes a C source defining `const char SYMBOL[]` (NUL-terminated) and
# `const unsigned long SYMBOL_size` with the bytes of INPUT.
# Usage: cmake -DINPUT=... -DOUTPUT=... -DSYMBOL=... -P embed.cmake
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}" "/* generated from ${INPUT} by embed.cmake */\nconst char ${SYMBOL}[] = {\n${bytes}0x00};\nconst unsigned long ${SYMBOL}_size = ${size};\n")
