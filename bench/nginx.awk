# Per-minute (and per-organization) counts of an nginx log whose line starts as combined
# does, the reference for bench/logs.py and tests/sense/logs: minute, organization (-
# without), requests, server errors, uploads, failed uploads. Split on quotes, so any
# fields after the user agent are left alone; -v O=N takes the organization from the Nth
# quote-delimited field (the custom format's "$http_x_org_id" is field 8).
# Uploads: POST or PUT to /api/uploads or /api/uploads/...; failed: >= 500, 408, 413, 499.
BEGIN { FS = "\"" }
{
  m = substr($1, index($1, "[") + 1, 17)
  o = (O != "" && $O != "") ? $O : "-"
  k = m " " o
  req[k]++
  split($3, st, " "); s = st[1] + 0
  if (s >= 500) err[k]++
  split($2, r, " ")
  if (r[1] == "POST" || r[1] == "PUT") {
    p = r[2]
    sub(/\?.*/, "", p)
    if (p == "/api/uploads" || substr(p, 1, 13) == "/api/uploads/") {
      up[k]++
      if (s >= 500 || s == 408 || s == 413 || s == 499) upf[k]++
    }
  }
}
END { for (k in req) printf "%s %d %d %d %d\n", k, req[k], err[k] + 0, up[k] + 0, upf[k] + 0 }
