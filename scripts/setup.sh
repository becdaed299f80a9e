# Sourced by .ci/run and scripts/demo: makes pnpm 10.34.9 available (installed under .tools/ when the
# machine has no matching pnpm; corepack cannot download it here) and installs the workspace.
need=10.34.9
if [ "$(pnpm -v 2>/dev/null)" != "$need" ]; then
  if [ ! -x .tools/node_modules/.bin/pnpm ]; then
    echo "installing pnpm $need into .tools/" >&2
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix .tools "pnpm@$need" >&2 || return 1
  fi
  export PATH="$PWD/.tools/node_modules/.bin:$PATH"
fi
pnpm install --frozen-lockfile --reporter=silent >&2 || return 1
