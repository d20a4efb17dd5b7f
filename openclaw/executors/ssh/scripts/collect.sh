# shellcheck shell=sh disable=SC2154
# collect: the launch's answer, once the launcher has written its pid file. Given: dir,
# home, workspace, agent, steps (how many 2 ms waits); launcher and launcher_st when this
# shell ran launch.sh, else they are read from "spawned". Sourced after prelude.sh.
#
# The answer is written to "launched" too (atomically, before it is printed), for a
# start whose connection drops now, or a later observation, to read back. When no pid
# comes, the launch is rolled back: the launcher's session is killed (while the launcher
# is still the process launched), so a failed start leaves nothing running.
if [ -z "${launcher:-}" ]; then
    launcher='' launcher_st=''
    { read -r launcher launcher_st <"$dir/spawned"; } 2>/dev/null
fi
i=0
if [ -e "$dir/launcher.log" ]; then
    while [ ! -s "$dir/pid" ] && [ "$i" -lt "$steps" ]; do
        sleep 0.002 2>/dev/null || sleep 1
        i=$((i + 1))
    done
fi
boot='' pidline='' log=''
{ read -r boot </proc/sys/kernel/random/boot_id; } 2>/dev/null
{ read -r pidline <"$dir/pid"; } 2>/dev/null
if [ -z "$pidline" ]; then
    # No pid: stop the launch (the launcher leads its own group and session) before saying
    # it failed. While no process has the launcher's pid, a group of that id can only be
    # what is left of the launch; a process that has it is signalled only if it started
    # when the launcher did (else the pid was reused).
    now=
    [ -n "$launcher" ] && { read -r now <"/proc/$launcher/stat"; } 2>/dev/null
    now=${now##*) }
    # shellcheck disable=SC2086
    set -- $now
    if [ -n "$launcher" ] && { [ -z "$now" ] || [ "${20:-}" = "$launcher_st" ]; }; then
        kill -KILL -- "-$launcher" 2>/dev/null
        kill -KILL "$launcher" 2>/dev/null
    fi
    log=$(tail -c 300 "$dir/launcher.log" 2>/dev/null)
fi
frames() {
    f home "$home"; f ws "$workspace"; f agent "$agent"
    f boot "$boot"; f pid "$pidline"; f log "$log"
}
{ printf '%s\n' "$OPENCLAW_MARK"; frames; printf '%s\n' "$OPENCLAW_END"; } >"$dir/.launched.tmp" \
    && mv -f "$dir/.launched.tmp" "$dir/launched"
frames
