#!/usr/bin/env bash
# A virtual microphone for tests and CI: a PulseAudio null sink "sgim_null" whose monitor is the
# default source, so whatever is played into the sink (paplay --device=sgim_null FILE) is what a
# program recording from the default input hears. Idempotent; prints the source's name.
# The sink is also made the default output, so playback tests can record what they played.
set -euo pipefail

SINK="${SGIM_VIRTUAL_SINK:-sgim_null}"
SOURCE="$SINK.monitor"

for tool in pulseaudio pactl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "virtual-mic: '$tool' not found: install the Debian packages pulseaudio pulseaudio-utils libasound2-plugins libportaudio2" >&2
        exit 1
    fi
done

if ! pactl info >/dev/null 2>&1; then
    # --system=false: a per-user daemon even as root (the root warning is harmless);
    # no idle exit, so it outlives the test run's pauses.
    pulseaudio --daemonize=yes --system=false --exit-idle-time=-1 --disallow-exit \
        --log-target=stderr --log-level=error 2>/dev/null || true
    for _ in $(seq 1 50); do
        pactl info >/dev/null 2>&1 && break
        sleep 0.1
    done
    if ! pactl info >/dev/null 2>&1; then
        echo "virtual-mic: PulseAudio would not start (try: pulseaudio -vvv --system=false --exit-idle-time=-1)" >&2
        exit 1
    fi
fi

if ! pactl list short sinks | awk '{print $2}' | grep -qx "$SINK"; then
    pactl load-module module-null-sink sink_name="$SINK" \
        sink_properties=device.description=sgim_virtual_microphone >/dev/null
fi
pactl set-default-sink "$SINK"
pactl set-default-source "$SOURCE"
echo "$SOURCE"
