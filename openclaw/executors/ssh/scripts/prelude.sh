# shellcheck shell=sh disable=SC2154
# openclaw SSH prelude: sent before every remote script, after the values it was given
# (name='value' lines: OPENCLAW_MARK, OPENCLAW_END, remote_root, ...). Its answer is
# framed: "KEY LENGTH\n<LENGTH bytes>\n" between the begin and end marks, so a value
# may hold anything and stray output cannot be taken for an answer.
LC_ALL=C
export LC_ALL
printf '%s\n' "$OPENCLAW_MARK"
# f KEY VALUE: one frame. ${#2} counts bytes under LC_ALL=C.
f() { printf '%s %s\n%s\n' "$1" "${#2}" "$2"; }
# ff KEY FILE MAX: the last MAX bytes of FILE (nothing when it does not exist).
ff() {
    if [ -f "$2" ]; then
        n=$(wc -c <"$2" 2>/dev/null)
        n=$((n + 0))
        [ "$n" -gt "$3" ] && n=$3
        printf '%s %s\n' "$1" "$n"
        tail -c "$n" "$2" 2>/dev/null | head -c "$n"
        printf '\n'
    fi
}
# from KEY FILE OFFSET: FILE from byte OFFSET to its end as it is now.
from() {
    n=0
    [ -f "$2" ] && n=$(wc -c <"$2" 2>/dev/null)
    n=$((n + 0 - $3))
    [ "$n" -lt 0 ] && n=0
    printf '%s %s\n' "$1" "$n"
    [ "$n" -gt 0 ] && tail -c "+$(($3 + 1))" "$2" 2>/dev/null | head -c "$n"
    printf '\n'
}
# answers FILE...: the files (a batch's answers, in the current directory) as two frames,
# "sizes" (a "SIZE NAME" line for each that exists, in order) and "answers" (those files,
# one after another): one wc and one cat, however many there are.
answers() {
    sizes=$(wc -c -- "$@" 2>/dev/null)
    s='' total=0
    while read -r n name; do
        [ -n "$name" ] || continue
        [ "$name" = total ] && [ "$#" -gt 1 ] && continue
        s="$s$n $name
"
        total=$((total + n))
    done <<SIZES
$sizes
SIZES
    f sizes "$s"
    printf 'answers %s\n' "$total"
    cat -- "$@"
    printf '\n'
}
end() { printf '%s\n' "$OPENCLAW_END"; exit 0; }
# held PID: wait for PID (a watch started in the background) while the caller keeps this
# script's stdin (its channel) open, and stop it once that ends (the watcher done or gone),
# so nothing of a watch outlives its watcher. Background commands get /dev/null as stdin:
# the channel is read through fd 3.
held() {
    exec 3<&0
    { cat <&3 >/dev/null; kill "$1"; } >/dev/null 2>&1 &
    held_c=$!
    exec 3<&-
    wait "$1"
    kill "$held_c" 2>/dev/null
}
# taskroot HOME: sets $root to remote_root, "~" and "~/..." taken under HOME.
taskroot() {
    # shellcheck disable=SC2088 # a literal "~/" in the config, taken under HOME here
    case ${remote_root:-} in
        "~") root=$1 ;;
        "~/"*) root=$1/${remote_root#"~/"} ;;
        *) root=${remote_root:-} ;;
    esac
    root=${root%/}
}
taskroot "$HOME"
