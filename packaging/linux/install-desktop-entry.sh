#!/usr/bin/env bash
# Make this unpacked sgim-desktop folder a desktop app for the current user: menu entry, icon,
# "Open with" for sounds and pictures. Nothing outside ~/.local/share (or $XDG_DATA_HOME) is touched.
#   share/install-desktop-entry.sh            install (run it again after moving the folder)
#   share/install-desktop-entry.sh --remove   undo
set -euo pipefail
share="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
app="$(dirname "$share")/sgim-desktop"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
id=io.github.sgim_desktop
desktop=sgim-desktop.desktop

refresh() {
    command -v update-desktop-database >/dev/null && update-desktop-database -q "$data/applications" || true
    command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data/icons/hicolor" 2>/dev/null || true
}

if [ "${1:-}" = "--remove" ]; then
    rm -f "$data/applications/$desktop" "$data/metainfo/$id.metainfo.xml"
    find "$data/icons/hicolor" -name "$id.png" -delete 2>/dev/null || true
    find "$data/icons/hicolor" -name "$id.svg" -delete 2>/dev/null || true
    refresh
    echo "removed the sgim-desktop menu entry"
    exit 0
fi

[ -x "$app" ] || { echo "install-desktop-entry: $app not found: run this script from the unpacked folder" >&2; exit 1; }
mkdir -p "$data/applications" "$data/metainfo"
# The entry names the executable by its absolute path (quoted per the desktop entry spec).
quoted=$(printf '%s' "$app" | sed 's/\\/\\\\\\\\/g; s/"/\\\\"/g; s/`/\\\\`/g; s/\$/\\\\$/g')
while IFS= read -r line; do
    case "$line" in
        Exec=*) printf 'Exec="%s" %%F\n' "$quoted" ;;
        *) printf '%s\n' "$line" ;;
    esac
done < "$share/applications/$desktop" > "$data/applications/$desktop"
cp "$share/metainfo/$id.metainfo.xml" "$data/metainfo/"
(cd "$share/icons" && find hicolor -type f) | while read -r icon; do
    mkdir -p "$data/icons/$(dirname "$icon")"
    cp "$share/icons/$icon" "$data/icons/$icon"
done
refresh
echo "installed: $data/applications/$desktop -> $app"
