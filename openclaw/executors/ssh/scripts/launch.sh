# shellcheck shell=sh disable=SC2154
# launch: the detached launch, waiting for the launcher's pid file. Given: dir, task_id,
# home, workspace, agent (its binary, resolved by prepare), timeout (seconds, 0 for none),
# steps (how many 2 ms waits), and the agent's arguments after the binary as "$@" (set by
# the caller). Sourced after prelude.sh and secure.sh.
#
# The answer is written to "launched" too (atomically, before it is printed), for a
# start whose connection drops now, or a later observation, to read back. When no pid
# comes, the launch is rolled back: its session is killed, so a failed start leaves
# nothing running.
umask 077
private "$dir" || { f fail insecure; f detail "$problem"; end; }
cd "$dir" || { f fail mkdir; f detail "$dir"; end; }
chmod 600 prompt env launcher.sh
setsid nohup /bin/sh "$dir/launcher.sh" "$dir" "$workspace" "$task_id" "$timeout" -- \
    "$agent" "$@" >>"$dir/launcher.log" 2>&1 </dev/null &
launcher=$!
i=0
while [ ! -s "$dir/pid" ] && [ "$i" -lt "$steps" ]; do
    sleep 0.002 2>/dev/null || sleep 1
    i=$((i + 1))
done
boot='' pidline='' log=''
{ read -r boot </proc/sys/kernel/random/boot_id; } 2>/dev/null
{ read -r pidline <"$dir/pid"; } 2>/dev/null
if [ -z "$pidline" ]; then
    # No pid: stop the launch (the launcher leads its own session) before saying it failed.
    kill -KILL -- "-$launcher" 2>/dev/null
    kill -KILL "$launcher" 2>/dev/null
    log=$(tail -c 300 "$dir/launcher.log" 2>/dev/null)
fi
frames() {
    f home "$home"; f ws "$workspace"; f agent "$agent"
    f boot "$boot"; f pid "$pidline"; f log "$log"
}
{ printf '%s\n' "$OPENCLAW_MARK"; frames; printf '%s\n' "$OPENCLAW_END"; } >"$dir/.launched.tmp" \
    && mv -f "$dir/.launched.tmp" "$dir/launched"
frames
