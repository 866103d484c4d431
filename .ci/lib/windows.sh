# Shell functions for driving real windows under Xvfb with xdotool, sourced
# by .ci/window-chat and .ci/lan-window. The sourcing script sets $work (a
# directory whose *.log files are shown on failure).

fail() {
  echo "$(basename "$0"): $*"
  for log in "$work"/*.log; do echo "--- $log"; cat "$log"; done
  exit 1
}

# Waits (up to 30 s) until FILE has a line containing TEXT (FILE may not
# exist yet: a program started in the background opens its log itself).
await_line() {
  timeout 30 grep -q -m1 -F -- "$2" <(tail --pid=$$ -n +1 -F "$1" 2>/dev/null) || fail "no line '$2' in $1"
}

# Waits (up to 30 s) until WINDOW has drawn COLOR (#RRGGBB) at X Y; fails
# with WHY otherwise.
await_pixel() {
  for _ in $(seq 1 300); do
    [ "$(pixel "$1" "$2" "$3")" = "$4" ] && return 0
    sleep 0.1
  done
  fail "$5 (the pixel at $2,$3 is $(pixel "$1" "$2" "$3"), not $4)"
}
pixel() {
  import -window "$1" -crop "1x1+$2+$3" -depth 8 txt:- 2>/dev/null | awk 'NR == 2 { print $3 }'
}

# Waits (up to 30 s) until WINDOW's title is TITLE.
await_title() {
  for _ in $(seq 1 300); do
    [ "$(xdotool getwindowname "$1" 2>/dev/null)" = "$2" ] && return 0
    sleep 0.1
  done
  fail "window $1 is titled '$(xdotool getwindowname "$1" 2>/dev/null)', not '$2'"
}

# Waits (up to 60 s) until the window of PID is on screen and has drawn,
# and gives it the keyboard focus (there is no window manager to do it).
# Sets $window. Keys go to the focused window: winit ignores synthetic
# events sent to a window directly.
await_window() {
  window=$(timeout 60 xdotool search --sync --onlyvisible --pid "$1" | head -1) || true
  [ -n "$window" ] || fail "no window for pid $1"
  for _ in $(seq 1 60); do
    import -window "$window" "$work/frame.png" 2>/dev/null &&
      awk -v s="$(convert "$work/frame.png" -format '%[fx:standard_deviation]' info:)" \
        'BEGIN { exit !(s > 0.01) }' && break
    sleep 1
  done
  xdotool windowfocus --sync "$window"
}
