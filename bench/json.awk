# Per-minute counts of a JSON-lines app log (ISO time, UTC), the reference for
# bench/logs.py: minute, requests (lines with a status), server errors, uploads,
# failed uploads. Same upload rule as nginx.awk.
{
  if (!match($0, /"time":"[^"]*"/)) next
  m = substr($0, RSTART + 8, 16)
  if (!match($0, /"status":[0-9]+/)) next
  s = substr($0, RSTART + 9, RLENGTH - 9) + 0
  req[m]++
  if (s >= 500) err[m]++
  if (index($0, "\"method\":\"POST\"") || index($0, "\"method\":\"PUT\"")) {
    if (match($0, /"url":"[^"]*"/)) {
      p = substr($0, RSTART + 7, RLENGTH - 8)
      sub(/\?.*/, "", p)
      if (p == "/api/uploads" || substr(p, 1, 13) == "/api/uploads/") {
        up[m]++
        if (s >= 500 || s == 408 || s == 413 || s == 499) upf[m]++
      }
    }
  }
}
END { for (m in req) printf "%s %d %d %d %d\n", m, req[m], err[m] + 0, up[m] + 0, upf[m] + 0 }
