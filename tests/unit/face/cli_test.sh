#!/usr/bin/env bash
# The real binary's `footfall face` subcommands: happy paths and refusals.
# usage: cli_test.sh FOOTFALL SAMPLES_DIR
set -u
FOOTFALL=$1
SAMPLES=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
check() { # description, condition exit status
  if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi
}

out=$("$FOOTFALL" face analyze --json "$SAMPLES/sample1.jpg")
check "analyze exits 0" $?
n=$(grep -o '"descriptor":\[' <<<"$out" | wc -l)
[ "$n" -eq 3 ]
check "analyze --json finds the 3 faces of sample1 (got $n)" $?
grep -q '"quality":{"face_size":' <<<"$out"
check "analyze --json reports quality components" $?

out=$("$FOOTFALL" face analyze --detector tiny --tiny-size 320 "$SAMPLES/sample3.jpg")
check "analyze --detector tiny --tiny-size 320 exits 0" $?
"$FOOTFALL" face analyze --tiny-size 100 --detector tiny "$SAMPLES/sample3.jpg" >/dev/null 2>"$TMP/err"
[ $? -eq 1 ] && grep -q "multiple of 32" "$TMP/err"
check "analyze refuses a tiny size that is not a multiple of 32" $?

"$FOOTFALL" face decode "$SAMPLES/sample1.jpg" "$TMP/s1.ppm"
check "decode exits 0" $?
printf 'P6\n1920 1280\n255\n' | cmp -s - <(head -c 17 "$TMP/s1.ppm") &&
  [ "$(stat -c %s "$TMP/s1.ppm")" -eq $((17 + 1920 * 1280 * 3)) ]
check "decode writes a 1920x1280 binary PPM" $?

head -c 20000 "$SAMPLES/sample1.jpg" >"$TMP/cut.jpg"
"$FOOTFALL" face decode "$TMP/cut.jpg" "$TMP/cut.ppm" 2>"$TMP/err"
[ $? -eq 1 ] && grep -q "truncated" "$TMP/err" && [ ! -s "$TMP/cut.ppm" ]
check "decode refuses a truncated JPEG with a message" $?

printf 'not an image at all' >"$TMP/junk.png"
"$FOOTFALL" face analyze "$TMP/junk.png" >/dev/null 2>"$TMP/err"
[ $? -eq 1 ] && grep -q "not a JPEG or PNG" "$TMP/err"
check "analyze refuses a non-image" $?

out=$("$FOOTFALL" face compare "$SAMPLES/sample2.jpg" "$SAMPLES/sample2.jpg")
[ $? -eq 0 ] && grep -q "distance 0.0000: same person" <<<"$out"
check "compare of a picture with itself: distance 0, same person" $?

"$FOOTFALL" face frobnicate >/dev/null 2>&1
[ $? -eq 2 ]
check "unknown subcommand exits 2" $?

"$FOOTFALL" face analyze "$SAMPLES/sample1.jpg" --models "$TMP/none" >/dev/null 2>"$TMP/err"
[ $? -eq 1 ] && grep -q "cannot load models" "$TMP/err"
check "missing models folder: clear error" $?

exit $((fails > 0))
