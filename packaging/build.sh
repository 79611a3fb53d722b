#!/usr/bin/env bash
# Build the double-clickable app from a checkout: dist/sgim-desktop/ (one folder; run dist/sgim-desktop/sgim-desktop).
#   packaging/build.sh             build the folder
#   packaging/build.sh --archive   also pack it as dist/sgim-desktop-VERSION-linux-x86_64.tar.gz
#   packaging/build.sh --check     also run the frozen app's --self-test (offscreen Qt)
#   packaging/build.sh --clean     forget PyInstaller's cached analysis from an earlier build
# Python: $SGIM_BUILD_PYTHON if set, else the virtual environment of scripts/dev (made on first use).
# PyInstaller is installed into that environment if it is missing. Work files go to build/pyinstaller/.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

archive=0 check=0 clean=()
for arg in "$@"; do
    case "$arg" in
        --archive) archive=1 ;;
        --check) check=1 ;;
        --clean) clean=(--clean) ;;
        -h|--help) sed -n 2,8p "$0"; exit 0 ;;
        *) echo "build.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

if [ -n "${SGIM_BUILD_PYTHON:-}" ]; then
    py=("$SGIM_BUILD_PYTHON")
else
    py=(scripts/dev python)
fi
if ! "${py[@]}" -c "import PyInstaller" 2>/dev/null; then
    echo "build.sh: installing PyInstaller into the build environment" >&2
    "${py[@]}" -m pip install -q "pyinstaller>=6.10"
fi

version=$("${py[@]}" -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")
case "$(uname -s)" in
    Linux) platform=linux ;;
    Darwin) platform=macos ;;
    *) platform=windows ;;
esac
arch=$(uname -m)

started=$(date +%s)
QT_QPA_PLATFORM=offscreen "${py[@]}" -m PyInstaller --noconfirm ${clean[@]+"${clean[@]}"} --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/sgim-desktop.spec
seconds=$(( $(date +%s) - started ))

if [ "$platform" = macos ]; then
    app="dist/sgim-desktop.app/Contents/MacOS/sgim-desktop-cli"
    folder="dist/sgim-desktop.app"
elif [ "$platform" = windows ]; then
    app="dist/sgim-desktop/sgim-desktop-cli.exe"
    folder="dist/sgim-desktop"
else
    app="dist/sgim-desktop/sgim-desktop"
    folder="dist/sgim-desktop"
fi
size=$(du -sh "$folder" | cut -f1)
echo "built $folder ($size) in ${seconds} s; run: $app"

if [ "$check" = 1 ]; then
    QT_QPA_PLATFORM=offscreen "$app" --self-test
fi

if [ "$archive" = 1 ]; then
    name="sgim-desktop-$version-$platform-$arch"
    started=$(date +%s)
    if [ "$platform" = linux ]; then
        # The folder unpacks as sgim-desktop-VERSION-...; gzip -1: torch's libraries barely compress further.
        tar -C dist --transform "s|^sgim-desktop|$name|" -cf - sgim-desktop | gzip -1 > "dist/$name.tar.gz"
        out="dist/$name.tar.gz"
    elif [ "$platform" = macos ]; then
        ditto -c -k --sequesterRsrc --keepParent "$folder" "dist/$name.zip"  # keeps the bundle's symlinks
        out="dist/$name.zip"
    else
        "${py[@]}" -m zipfile -c "dist/$name.zip" "$folder"
        out="dist/$name.zip"
    fi
    echo "archive $out ($(du -sh "$out" | cut -f1)) in $(( $(date +%s) - started )) s"
fi
