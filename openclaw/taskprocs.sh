# shellcheck shell=sh
# openclaw taskprocs: the processes of one task, and stopping them, in POSIX sh + awk.
#
# Sourced by launcher.sh (to stop what the agent left behind when it exits)
# and sent with the kill script to SSH hosts. Mirrors
# openclaw.procs.task_processes: a task's processes are
#   - the leader (the launcher) while it is still the recorded process
#     (same pid and start time),
#   - every process in the leader's process group or session,
#   - every descendant of those,
#   - every process whose environment carries OPENCLAW_TASK_ID=<id> (the
#     agent's tool commands run in sessions of their own), and their
#     descendants.
# Never by name. A process is "pid start-time" (field 22 of /proc/PID/stat),
# so a reused pid is never signalled. Zombies are dead already.
#
# Callers set: TP_ID (task id), TP_L (leader pid, or empty), TP_LS (its
# start time, or empty), TP_ME (a pid to leave out: the caller itself).

# tp_start PID: sets $st to the process's start time, 0 when there is no such live
# process (zombies included). No subshell, no fork: the launcher calls it on its
# start path.
tp_start() {
    st=0
    s=
    { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 0
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    case $1 in Z|X) ;; *) st=${20} ;; esac
}

# tp_st PID: the same, printed.
tp_st() {
    tp_start "$1"
    echo "$st"
}

# tp_list: "pid start" of every live process of the task; the leader's group first.
tp_list() {
    tagged=$(grep -lzx "OPENCLAW_TASK_ID=$TP_ID" /proc/[0-9]*/environ 2>/dev/null \
        | sed 's#^/proc/\([0-9]*\)/environ$#\1#' | tr '\n' ' ')
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v L="${TP_L:-}" -v LS="${TP_LS:-}" \
        -v T=" $tagged " -v ME="${TP_ME:-}" '
    {
        pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
        st[pid] = f[1]; pp[pid] = f[2]; pg[pid] = f[3]; se[pid] = f[4]; t0[pid] = f[20]
    }
    END {
        lok = (L != "") && (L in st) && st[L] != "Z" && st[L] != "X" && (LS == "" || t0[L] == LS)
        for (p in st) {
            if (st[p] == "Z" || st[p] == "X" || p == ME) continue
            if (lok && (p == L || pg[p] == L || se[p] == L)) c[p] = 1
            if (index(T, " " p " ")) c[p] = 1
        }
        do {
            added = 0
            for (p in st)
                if (!(p in c) && (pp[p] in c) && st[p] != "Z" && st[p] != "X" && p != ME) {
                    c[p] = 1; added = 1
                }
        } while (added)
        # The agent group first: it must get SIGTERM before its tools die, or it
        # could see a tool fail, finish the turn and exit 0 before its own signal came.
        for (p in c) if (pg[p] == L) print p, t0[p]
        for (p in c) if (pg[p] != L) print p, t0[p]
    }'
}

# tp_alive LIST: the lines of LIST ("pid start") whose process still lives.
tp_alive() {
    printf '%s\n' "$1" | while read -r p s; do
        [ -n "$p" ] && [ "$(tp_st "$p")" = "$s" ] && printf '%s %s\n' "$p" "$s"
    done
}

# tp_signal SIG LIST: send SIG to each process of LIST that is still the same process.
tp_signal() {
    printf '%s\n' "$2" | while read -r p s; do
        [ -n "$p" ] && [ "$(tp_st "$p")" = "$s" ] && kill "-$1" "$p" 2>/dev/null
    done
}

# tp_stop STEPS: SIGTERM every process of the task, SIGKILL what is left after
# STEPS x 0.05 s (and whatever appears meanwhile); prints how many survived.
tp_stop() {
    seen=$(tp_list)
    if [ -n "$seen" ]; then
        tp_signal TERM "$seen"
        i=0
        while [ "$i" -lt "$1" ]; do
            [ -z "$(tp_alive "$seen")" ] && break
            sleep 0.05 2>/dev/null || sleep 1
            seen=$(printf '%s\n%s\n' "$seen" "$(tp_list)" | sort -u | grep .)
            i=$((i + 1))
        done
        i=0
        while [ "$i" -lt 200 ]; do
            seen=$(printf '%s\n%s\n' "$seen" "$(tp_list)" | sort -u | grep .)
            live=$(tp_alive "$seen")
            [ -z "$live" ] && break
            tp_signal KILL "$live"
            sleep 0.05 2>/dev/null || sleep 1
            i=$((i + 1))
        done
    fi
    tp_alive "$seen" | grep -c .
}
