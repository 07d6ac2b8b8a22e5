# Per-minute counts of an nginx combined log, the reference for bench/logs.py
# and tests/sense/logs: minute, requests, server errors, uploads, failed uploads.
# Uploads: POST or PUT to /api/uploads or /api/uploads/...; failed: >= 500, 408, 413, 499.
{
  m = substr($4, 2, 17)
  req[m]++
  s = $9 + 0
  if (s >= 500) err[m]++
  if ($6 == "\"POST" || $6 == "\"PUT") {
    p = $7
    sub(/\?.*/, "", p)
    if (p == "/api/uploads" || substr(p, 1, 13) == "/api/uploads/") {
      up[m]++
      if (s >= 500 || s == 408 || s == 413 || s == 499) upf[m]++
    }
  }
}
END { for (m in req) printf "%s %d %d %d %d\n", m, req[m], err[m] + 0, up[m] + 0, upf[m] + 0 }
