# shellcheck shell=sh disable=SC2154
# openclaw worktree functions (wt_*): a git worktree and branch per task, on the host where
# the agent runs. Sourced by the launcher (which commits what the agent left when it exits)
# and sent, after the SSH prelude (f, ff, end, $root), with the scripts that make, diff,
# apply, push and remove a task's worktree, on this machine and on SSH hosts alike.
# git runs with the host's own configuration and credentials; nothing here asks for input.
GIT_TERMINAL_PROMPT=0
export GIT_TERMINAL_PROMPT

# wt_git DIR ARGS...: git in DIR, never paging, never colouring, never an external diff.
wt_git() { wt_d=$1; shift; git -C "$wt_d" -c core.pager=cat -c color.ui=false "$@" </dev/null; }

# wt_commit DIR TASK_ID WHY: commit everything left uncommitted in worktree DIR to its branch,
# with an author and a message that name the task. Hooks and signing are skipped: the work
# must not be lost to a hook that fails or a key that asks for a passphrase.
wt_commit() {
    wt_git "$1" add -A >/dev/null 2>&1 || return 1
    wt_git "$1" diff --cached --quiet 2>/dev/null && return 0
    GIT_AUTHOR_NAME="openclaw-agent task ${2%%-*}" GIT_AUTHOR_EMAIL="openclaw-agent+${2%%-*}@localhost" \
        GIT_COMMITTER_NAME="openclaw-agent task ${2%%-*}" GIT_COMMITTER_EMAIL="openclaw-agent+${2%%-*}@localhost" \
        wt_git "$1" -c commit.gpgsign=false commit -q --no-verify \
        -m "openclaw-agent: what task $2 left uncommitted ($3)" >/dev/null 2>&1
}

# wt_unlock DIR: remove the index lock a git killed mid-commit left in worktree DIR. Only for
# a task that has ended: then no process of it (and so no git of it) is left to hold the lock.
wt_unlock() {
    (cd "$1" 2>/dev/null && wt_lock=$(git rev-parse --git-path index.lock 2>/dev/null) && rm -f -- "$wt_lock")
    return 0
}

# wt_serialize DIR: hold (on fd 9, until the script ends) the lock of DIR's repository that makes
# this script's worktree changes one at a time: git's own 'worktree add' and 'prune' race with
# each other's half-made entries. Without flock(1) on the host, no lock is taken.
wt_serialize() {
    command -v flock >/dev/null 2>&1 || return 0
    wt_common=$(cd "$1" 2>/dev/null && git rev-parse --git-common-dir 2>/dev/null) || return 0
    case $wt_common in /*) ;; *) wt_common=$1/$wt_common ;; esac
    exec 9>>"$wt_common/openclaw-worktrees.lock" || return 0
    flock -w 300 9 || wt_fail lock "$wt_common/openclaw-worktrees.lock"
}

# wt_changes DIR BASE: "BASE HEAD FILES INSERTIONS DELETIONS" of DIR's HEAD against BASE.
wt_changes() {
    wt_head=$(wt_git "$1" rev-parse -q --verify HEAD) || return 1
    wt_git "$1" diff --numstat "$2" "$wt_head" -- | awk -v b="$2" -v h="$wt_head" '
        { n++; if ($1 != "-") i += $1; if ($2 != "-") d += $2 }
        END { printf "%s %s %d %d %d\n", b, h, n, i, d }'
}

# wt_finish DIR TASK_ID WHY BASE: commit what is left, then print the changes line.
wt_finish() { wt_commit "$1" "$2" "$3"; wt_changes "$1" "$4"; }

# wt_tree DIR: the id of a tree holding DIR's files as they are now (tracked and untracked,
# ignored ones aside), made in a scratch index: the checkout's own index is not touched.
wt_tree() {
    wt_idx=$(mktemp) || return 1
    (
        cd "$1" || exit 1
        cp -- "$(git rev-parse --git-path index)" "$wt_idx" 2>/dev/null || rm -f -- "$wt_idx"
        GIT_INDEX_FILE=$wt_idx git add -A >/dev/null 2>&1 && GIT_INDEX_FILE=$wt_idx git write-tree
    )
    wt_rc=$?
    rm -f -- "$wt_idx" "$wt_idx.lock"
    return $wt_rc
}

# wt_fail KIND DETAIL: the answer of a step that failed, and the end of the script.
wt_fail() { f fail "$1"; f detail "${2:-}"; end; }

# wt_create: make the task's worktree. Given: workspace (the user's checkout, or a
# directory in it), base (a ref, or empty for its HEAD), branch, name (the worktree's
# directory name under $root/.worktrees). Answers repo, base (a commit), path (the
# worktree) and cwd (the workspace's place in it), or fail and detail.
wt_create() {
    command -v git >/dev/null 2>&1 || wt_fail nogit "$PATH"
    ws=$workspace
    # shellcheck disable=SC2088 # a literal "~/" given by the user, expanded here
    case $ws in "~") ws=$HOME ;; "~/"*) ws=$HOME/${ws#"~/"} ;; esac
    cd -P -- "$ws" 2>/dev/null || wt_fail workspace "$ws"
    top=$(git rev-parse --show-toplevel 2>/dev/null) || wt_fail norepo "$PWD"
    [ -n "$top" ] || wt_fail norepo "$PWD" # a bare repository, or inside .git
    prefix=$(git rev-parse --show-prefix 2>/dev/null)
    git rev-parse -q --verify HEAD >/dev/null 2>&1 || wt_fail nocommits "$top"
    commit=$(git rev-parse -q --verify "${base:-HEAD}^{commit}" 2>/dev/null) || wt_fail nobase "$base"
    git check-ref-format --branch "$branch" >/dev/null 2>&1 || wt_fail badbranch "$branch"
    git show-ref -q --verify "refs/heads/$branch" && wt_fail branch "$branch"
    secure_root "$root" || wt_fail insecure "$problem"
    [ -d "$root/.worktrees" ] || mkdir -m 700 -- "$root/.worktrees" 2>/dev/null
    private "$root/.worktrees" || wt_fail insecure "$problem"
    path=$root/.worktrees/$name
    [ -e "$path" ] && wt_fail exists "$path"
    wt_serialize "$top"
    if ! out=$(wt_git "$top" worktree add -q -b "$branch" "$path" "$commit" 2>&1); then
        # Nothing half-made stays: not the directory, not its registration, not the branch.
        rm -rf -- "$path"
        wt_git "$top" worktree prune >/dev/null 2>&1
        wt_git "$top" show-ref -q --verify "refs/heads/$branch" && wt_git "$top" branch -q -D "$branch" >/dev/null 2>&1
        wt_fail add "$out"
    fi
    f repo "$top"
    f base "$commit"
    f path "$path"
    f cwd "$path/${prefix%/}"
}

# wt_source: the directory and the two trees a task's change lies between. Given: path (the
# worktree, or the workspace of a task without one), base (a commit; empty: the one the
# launcher kept in $root/$task_id/gitstart) and branch (the task's branch, or empty). A
# worktree that is gone (cleaned up) leaves its branch: then repo.
wt_source() {
    if [ -z "$base" ]; then
        { read -r base <"$root/$task_id/gitstart"; } 2>/dev/null
        [ -n "$base" ] || wt_fail nostart ""
    fi
    if [ -d "$path" ]; then
        src=$path
        tree=$(wt_tree "$path") || wt_fail tree "$path"
    elif [ -n "$branch" ] && [ -d "$repo" ]; then
        src=$repo
        tree=refs/heads/$branch
        wt_git "$src" rev-parse -q --verify "$tree" >/dev/null || wt_fail gone "$branch"
    else
        wt_fail gone "$path"
    fi
    wt_git "$src" cat-file -e "$base^{commit}" 2>/dev/null || wt_fail nobase "$base"
}

# wt_diff: the task's change, as mode says: patch, binary (for git apply), stat, name-only,
# or numstat and name-status (for --json; NUL-separated).
wt_diff() {
    command -v git >/dev/null 2>&1 || wt_fail nogit "$PATH"
    wt_source
    out=$(mktemp) || wt_fail tmp ""
    case $mode in
        patch) wt_git "$src" diff "$base" "$tree" -- >"$out" ;;
        binary) wt_git "$src" diff --binary --full-index "$base" "$tree" -- >"$out" ;;
        stat) wt_git "$src" diff --stat "$base" "$tree" -- >"$out" ;;
        name-only) wt_git "$src" diff --name-only "$base" "$tree" -- >"$out" ;;
        json)
            wt_git "$src" diff -z --numstat "$base" "$tree" -- >"$out"
            ff numstat "$out" 1099511627776
            wt_git "$src" diff -z --name-status "$base" "$tree" -- >"$out" ;;
    esac
    ff data "$out" 1099511627776
    rm -f -- "$out"
}

# wt_apply: apply patch file $patch to the checkout at $target by a three-way merge, refusing
# a checkout with uncommitted changes unless force is 1. Answers rc, out and conflicts.
wt_apply() {
    command -v git >/dev/null 2>&1 || wt_fail nogit "$PATH"
    cd -P -- "$target" 2>/dev/null || wt_fail target "$target"
    top=$(git rev-parse --show-toplevel 2>/dev/null) || wt_fail norepo "$PWD"
    [ -n "$top" ] || wt_fail norepo "$PWD"
    cd -- "$top" || wt_fail target "$top"
    if [ "$force" != 1 ]; then
        dirty=$(wt_git "$top" status --porcelain --untracked-files=no 2>/dev/null | head -n 20)
        [ -n "$dirty" ] && wt_fail dirty "$dirty"
    fi
    [ -s "$patch" ] || { f rc 0; f empty 1; return 0; }
    out=$(wt_git "$top" apply --3way "$patch" 2>&1)
    f rc $?
    f out "$out"
    f conflicts "$(wt_git "$top" diff --name-only --diff-filter=U 2>/dev/null)"
}

# wt_push: push the task's branch to remote from its worktree (or the repository).
wt_push() {
    command -v git >/dev/null 2>&1 || wt_fail nogit "$PATH"
    if [ -d "$path" ]; then src=$path; else src=$repo; fi
    out=$(wt_git "$src" push --porcelain "$remote" "refs/heads/$branch:refs/heads/$branch" 2>&1)
    f rc $?
    f out "$out"
}

# wt_remove: remove the task's worktree; with delete 1 its branch too. A worktree holding
# changes not committed to its branch is kept unless force is 1.
wt_remove() {
    command -v git >/dev/null 2>&1 || wt_fail nogit "$PATH"
    [ -d "$repo" ] && wt_serialize "$repo"
    if [ -d "$path" ]; then
        if [ "$force" != 1 ]; then
            dirty=$(wt_git "$path" status --porcelain 2>/dev/null | head -n 20)
            [ -n "$dirty" ] && wt_fail dirty "$dirty"
        fi
        wt_git "$repo" worktree remove --force "$path" >/dev/null 2>&1 || rm -rf -- "$path"
    fi
    [ -d "$repo" ] && wt_git "$repo" worktree prune >/dev/null 2>&1
    if [ "$delete" = 1 ] && [ -d "$repo" ] && wt_git "$repo" show-ref -q --verify "refs/heads/$branch"; then
        out=$(wt_git "$repo" branch -D "$branch" 2>&1) || wt_fail branch-delete "$out"
    fi
    f removed 1
}
