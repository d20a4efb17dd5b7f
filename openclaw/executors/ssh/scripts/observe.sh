# shellcheck shell=sh disable=SC2154
# observe: every task of this host in one round trip. Given: out_max, err_max. Sourced
# after prelude.sh and taskprocs.sh; the caller appends "obs_many FILE" with one
# "ID PID START" line per task on its stdin.
# Frames per task: "task ID", "dir 0|1", "alive 0|1", "rc TEXT" and "rctime" (when
# there is one), and for a finished task its stdout and stderr tails; for a task whose
# launcher is gone without an rc, "left N": how many of its processes still run.
f boot "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"
obs() {
    id=$1 d=$root/$1 op=$2 ost=$3
    f task "$id"
    if [ -d "$d" ]; then f dir 1; else f dir 0; fi
    pp='' ps='' ap='' as=''
    if [ -z "$op" ] && [ -f "$d/pid" ]; then
        { read -r pp ps ap as _rest <"$d/pid"; } 2>/dev/null
        op=${pp:-} ost=${ps:-}
    fi
    # No command substitution on the common path: a fork per task is what made a look at
    # many running tasks cost in proportion to their number.
    a=0
    if [ -n "$op" ] && [ "$op" != 0 ]; then
        tp_start "$op"
        if [ "$st" != 0 ] && { [ -z "$ost" ] || [ "$st" = "$ost" ]; }; then a=1; fi
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
        [ -n "$2" ] && [ -f "$d/pid" ] && { read -r pp ps ap as _rest <"$d/pid"; } 2>/dev/null
        left=0
        if [ -n "$ap" ] && [ "$ap" != 0 ]; then
            tp_start "$ap"
            [ "$st" = "$as" ] && left=1
        fi
        if [ "$left" = 0 ] && grep -qlzx "OPENCLAW_TASK_ID=$id" /proc/[0-9]*/environ 2>/dev/null; then
            left=$(grep -lzx "OPENCLAW_TASK_ID=$id" /proc/[0-9]*/environ 2>/dev/null | grep -c .)
        fi
        f left "$left"
    fi
}

# obs_many FILE: every task of the lines "ID PID START" on stdin ("-" for an unknown pid
# or start); its frames are appended to FILE (/dev/stdout when no file could be made).
# One awk pass answers the common case (the launcher runs as recorded, no exit status
# yet) with no fork per task: a shell loop reads /proc/PID/stat a byte at a time, and
# it made a look at 1,000 running tasks cost a third of a second on the host. Every
# other task goes through obs, as the awk pass lists it.
obs_many() {
    slow=$(awk -v root="$root" -v buf="$1" '
    function frame(k, v) { printf "%s %d\n%s\n", k, length(v), v >> buf }
    function readable(path,    line, n) {
        n = (getline line < path)
        close(path)
        return n >= 0
    }
    NF == 3 && $1 ~ /^[0-9a-f-]+$/ && $2 ~ /^([0-9]+|-)$/ && $3 ~ /^([0-9]+|-)$/ {
        id = $1; p = $2; s = $3; d = root "/" id; fast = 0
        if (p != "-" && p != "0" && s != "" && readable(d "/pid") && !readable(d "/rc")) {
            stat = "/proc/" p "/stat"; line = ""
            if ((getline line < stat) > 0) {
                sub(/^.*\) /, "", line)
                split(line, fld, " ")
                fast = fld[1] != "Z" && fld[1] != "X" && (s == "-" || fld[20] == s)
            }
            close(stat)
        }
        if (fast) {
            frame("task", id); frame("dir", "1"); frame("alive", "1")
        } else {
            printf "obs %s \047%s\047 \047%s\047\n", id, (p == "-" ? "" : p), (s == "-" ? "" : s)
        }
    }') || return 1
    eval "$slow" >>"$1"
}
