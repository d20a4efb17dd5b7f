# shellcheck shell=sh disable=SC2154
# readback: the answer of a launch whose connection dropped, read back from the host.
# Given: dir, steps (how many 50 ms waits). A launch script that runs makes
# launcher.log within milliseconds; none after 2 s means it never ran (and removing
# the directory makes sure it cannot launch now).
i=0
while [ -d "$dir" ] && [ ! -f "$dir/launched" ] && [ "$i" -lt "$steps" ]; do
    [ "$i" -ge 40 ] && [ ! -e "$dir/launcher.log" ] && break
    sleep 0.05 2>/dev/null || sleep 1
    i=$((i + 1))
done
if [ -f "$dir/launched" ]; then ff launched "$dir/launched" 65536
elif [ -d "$dir" ]; then rm -rf -- "$dir"; f outcome none
else f outcome gone
fi
