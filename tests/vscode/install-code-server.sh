#!/usr/bin/env bash
# Install code-server VERSION from the npm registry into DEST (a download
# cache outside the repository), following shared/RECIPES.md: the npm package
# with install scripts off, then VS Code's own production dependencies built
# from source against the machine's Node (4.100.x is the last line for Node 20).
# Idempotent: DEST/.complete marks a finished install; a partial one is redone.
set -euo pipefail
VERSION="$1"
DEST="$2"
[ -f "$DEST/.complete" ] && exit 0
export npm_config_yes=true npm_config_unsafe_perm=true npm_config_fund=false npm_config_audit=false
export npm_config_update_notifier=false npm_config_loglevel=error
STAGE="$DEST.partial"
rm -rf "$STAGE"
mkdir -p "$STAGE"
cd "$STAGE"
echo "==> code-server $VERSION: npm install (into $STAGE)"
npm init -y >/dev/null
npm install "code-server@$VERSION" --ignore-scripts
npm rebuild argon2
cd node_modules/code-server/lib/vscode
echo "==> code-server: VS Code production dependencies"
npm install --omit=dev --ignore-scripts
mkdir -p node_modules/@vscode/ripgrep/bin
cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
echo "==> code-server: native modules"
npm rebuild --foreground-scripts >"$STAGE/rebuild.log" 2>&1 || { tail -40 "$STAGE/rebuild.log" >&2; exit 1; }
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sfn code-linux.sh code-server)
(cd bin/helpers && ln -sfn browser-linux.sh browser.sh)
echo "==> code-server: built-in extensions' dependencies"
(cd extensions && npm install --omit=dev)
touch "$STAGE/.complete"
rm -rf "$DEST"
mv "$STAGE" "$DEST"
echo "==> code-server $VERSION installed in $DEST"
