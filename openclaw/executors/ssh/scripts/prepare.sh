# shellcheck shell=sh disable=SC2154
# prepare: the pre-flight checks, the private remote root and the new task directory,
# before anything is uploaded. Given: task_id, workspace, claude_path (and
# the agent's environment, exported). Sourced after prelude.sh and secure.sh.
fail() { f fail "$1"; f detail "${2:-}"; end; }
ws=$workspace
# shellcheck disable=SC2088 # a literal "~/" given by the user, expanded here
case $ws in "~") ws=$HOME ;; "~/"*) ws=$HOME/${ws#"~/"} ;; esac
cd -P -- "$ws" 2>/dev/null || fail workspace "$ws"
ws=$PWD
if claude=$(command -v -- "$claude_path"); then
    if [ ! -f "$claude" ] || [ ! -x "$claude" ]; then fail claude-perm "$claude"; fi
else
    # Not found as a command: is it there, but not executable (or not readable)?
    case $claude_path in
        */*) [ -e "$claude_path" ] && fail claude-perm "$claude_path" ;;
        *) IFS=:
           for p in $PATH; do
               [ -e "${p:-.}/$claude_path" ] && { unset IFS; fail claude-perm "${p:-.}/$claude_path"; }
           done
           unset IFS ;;
    esac
    fail claude "$PATH"
fi
if [ "$(id -u)" = 0 ] && [ "${IS_SANDBOX:-}" != 1 ]; then fail root "${IS_SANDBOX-(unset)}"; fi
HOME_P=$(cd -P -- "$HOME" 2>/dev/null && pwd) || fail insecure "the home directory $HOME is missing"
taskroot "$HOME_P"
secure_root "$root" || fail insecure "$problem"
dir=$root/$task_id
mkdir -m 700 -- "$dir" 2>/dev/null || fail mkdir "cannot create $dir (it exists, or the root is not writable)"
private "$dir" || fail insecure "$problem"
f dir "$dir"
f home "$HOME"
f ws "$ws"
f claude "$claude"
