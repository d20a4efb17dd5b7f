# shellcheck shell=sh disable=SC2154
# observe: every task of this host in one round trip. Given: out_max, err_max. Sourced
# after prelude.sh and taskprocs.sh; the caller appends one "obs ID PID START" per task.
# Frames per task: "task ID", "dir 0|1", "alive 0|1", "rc TEXT" and "rctime" (when
# there is one), and for a finished task its stdout and stderr tails; for a task whose
# launcher is gone without an rc, "left N": how many of its processes still run.
f boot "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"
obs() {
    id=$1 d=$root/$1 p=$2 s=$3
    f task "$id"
    if [ -d "$d" ]; then f dir 1; else f dir 0; fi
    ap='' as=''
    if [ -f "$d/pid" ]; then
        { read -r pp ps ap as _rest <"$d/pid"; } 2>/dev/null
        [ -z "$p" ] && p=${pp:-} s=${ps:-}
    fi
    a=0
    if [ -n "$p" ] && [ "$p" != 0 ]; then
        now=$(tp_st "$p")
        if [ "$now" != 0 ] && { [ -z "$s" ] || [ "$now" = "$s" ]; }; then a=1; fi
    fi
    f alive "$a"
    if [ -z "$2" ]; then ff launched "$d/launched" 65536; ff pidfile "$d/pid" 200; fi
    rc=
    [ -f "$d/rc" ] && { read -r rc <"$d/rc"; } 2>/dev/null
    if [ -n "$rc" ]; then
        f rc "$rc"
        f rctime "$(stat -c %.3Y "$d/rc" 2>/dev/null || stat -c %Y "$d/rc" 2>/dev/null)"
        ff stdout "$d/stdout" "$out_max"
        ff stderr "$d/stderr" "$err_max"
        ff changes "$d/changes" 512
    elif [ "$a" = 0 ]; then
        # The launcher is gone without an exit status: is anything of the task left?
        left=0
        if [ -n "$ap" ] && [ "$ap" != 0 ] && [ "$(tp_st "$ap")" = "$as" ]; then left=1; fi
        if [ "$left" = 0 ] && grep -qlzx "OPENCLAW_TASK_ID=$id" /proc/[0-9]*/environ 2>/dev/null; then
            left=$(grep -lzx "OPENCLAW_TASK_ID=$id" /proc/[0-9]*/environ 2>/dev/null | grep -c .)
        fi
        f left "$left"
    fi
}
