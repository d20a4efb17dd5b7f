#!/bin/sh
# Install openclaw-agent from this checkout, for the user who runs it (root or not).
#
#   sh install.sh            # openclaw-agent, and Claude Code when it is missing
#   sh install.sh --no-claude
#
# openclaw-agent goes into a private virtualenv,
# ${XDG_DATA_HOME:-~/.local/share}/openclaw-agent/venv, and its command is
# linked into ~/.local/bin: the way pipx installs a Python CLI, without
# needing pipx (a fresh Debian or Ubuntu has none), and without touching the
# system Python (PEP 668: "externally-managed-environment"). It works the same
# with a Python from Debian, pyenv or Homebrew. Run it again to upgrade.
#
# What a fresh Debian/Ubuntu lacks is installed with apt-get (as root, or with
# sudo): python3-venv, and npm for Claude Code. Claude Code (npm
# @anthropic-ai/claude-code) goes to /usr/local as root, else to ~/.local.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
data=${XDG_DATA_HOME:-$HOME/.local/share}/openclaw-agent
bin=$HOME/.local/bin
claude_pkg=${CLAUDE_CODE_PACKAGE:-@anthropic-ai/claude-code}
with_claude=yes
[ "${1:-}" = "--no-claude" ] && with_claude=no

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

# as_root CMD...: run CMD as root (directly, or with sudo); fails when neither is possible.
as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        return 1
    fi
}

apt_install() {
    command -v apt-get >/dev/null 2>&1 || return 1
    say "installing $* (apt-get)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

command -v "$py" >/dev/null 2>&1 || die "no $py found: install Python 3.10 or newer (or set PYTHON=/path/to/python3)"
"$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    die "$py is $("$py" -c 'import sys; print(sys.version.split()[0])'); openclaw-agent needs Python 3.10 or newer"

if ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    apt_install python3-venv ||
        die "$py cannot make a virtualenv: run 'sudo apt-get install python3-venv' (Debian/Ubuntu), then again"
fi

say "installing openclaw-agent into $data/venv"
mkdir -p "$data" "$bin"
"$py" -m venv "$data/venv"
"$data/venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade "$here" ||
    die "pip could not install $here into $data/venv (see above)"
ln -sf "$data/venv/bin/openclaw-agent" "$bin/openclaw-agent"
say "installed $bin/openclaw-agent ($("$bin/openclaw-agent" --version))"

if [ "$with_claude" = yes ] && ! PATH="$bin:$PATH" command -v claude >/dev/null 2>&1; then
    if ! command -v npm >/dev/null 2>&1; then
        apt_install npm || die "Claude Code is installed with npm, which is missing: install Node.js 22 or newer with npm (https://nodejs.org), then run this again; or pass --no-claude"
    fi
    node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    if [ "$node_major" -lt 22 ]; then
        say "note: Node.js $node_major is older than the 22 Claude Code asks for; it installs with a warning."
        say "      For a supported one: nvm install 22 (https://github.com/nvm-sh/nvm), or NodeSource's node_22.x."
    fi
    if [ "$(id -u)" = 0 ]; then
        say "installing Claude Code (npm install -g $claude_pkg)"
        npm install -g --silent --no-audit --no-fund "$claude_pkg" >/dev/null
    else
        say "installing Claude Code into ~/.local (npm install -g --prefix ~/.local $claude_pkg)"
        npm install -g --silent --no-audit --no-fund --prefix "$HOME/.local" "$claude_pkg" >/dev/null
    fi
fi

case ":$PATH:" in
    *":$bin:"*) ;;
    *) say "add $bin to your PATH (e.g. in ~/.profile): export PATH=\"\$HOME/.local/bin:\$PATH\"" ;;
esac
