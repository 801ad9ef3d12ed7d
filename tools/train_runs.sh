# Sourced by the reproduce scripts: `train NAME CONFIG [key=value ...]` runs `$av train` into $runs/NAME with the
# overrides in $paths, resumes a stopped run (checkpoint-last.pt), skips a finished one ($runs/NAME/done) and
# logs to $runs/NAME.log. Needs: av (the av-pose command), runs (the runs folder), paths (data overrides).
train() {  # name config [overrides...]
  local name=$1 config=$2; shift 2
  [ -f "$runs/$name/done" ] && return 0
  local resume=""; [ -f "$runs/$name/checkpoint-last.pt" ] && resume=--resume
  $av train "$config" --out "$runs/$name" $resume --no-progress $paths "$@" > "$runs/$name.log" 2>&1
  touch "$runs/$name/done"
}
