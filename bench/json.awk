# Per-minute (and per-organization) counts of a JSON-lines log, the reference for
# bench/logs.py: minute, organization (- without), requests (lines with the status key),
# server errors, uploads, failed uploads. Keys are the last part of each key (a nested
# key is matched wherever it is: the generated logs hold each once):
#   -v T=time TKIND=iso|ms S=status M=method U=url (or R=request: "METHOD /path ...")
#   -v O=org (empty: no organizations)
# Uploads: POST or PUT to /api/uploads or /api/uploads/...; failed: >= 500, 408, 413, 499.
BEGIN {
  tre = "\"" T "\":\"?[^\",}]*"; sre = "\"" S "\":\"?[0-9]+"
  mre = "\"" M "\":\"[^\"]*\""; ure = "\"" U "\":\"[^\"]*\""; rre = "\"" R "\":\"[^\"]*\""
  ore = "\"" O "\":\"[^\"]*\""; tl = length(T) + 3; sl = length(S) + 3
}
{
  if (!match($0, sre)) next
  s = substr($0, RSTART + sl, RLENGTH - sl)
  sub(/"/, "", s); s = s + 0
  if (!match($0, tre)) next
  t = substr($0, RSTART + tl, RLENGTH - tl)
  if (TKIND == "ms") m = int(t / 60000); else { sub(/"/, "", t); m = substr(t, 1, 16) }
  o = "-"
  if (O != "" && match($0, ore)) o = substr($0, RSTART + length(O) + 4, RLENGTH - length(O) - 5)
  k = m " " o
  req[k]++
  if (s >= 500) err[k]++
  meth = ""; p = ""
  if (R != "") {
    if (match($0, rre)) { split(substr($0, RSTART + length(R) + 4, RLENGTH - length(R) - 5), w, " "); meth = w[1]; p = w[2] }
  } else {
    if (match($0, mre)) meth = substr($0, RSTART + length(M) + 4, RLENGTH - length(M) - 5)
    if (match($0, ure)) p = substr($0, RSTART + length(U) + 4, RLENGTH - length(U) - 5)
  }
  if (meth == "POST" || meth == "PUT") {
    sub(/\?.*/, "", p)
    if (p == "/api/uploads" || substr(p, 1, 13) == "/api/uploads/") {
      up[k]++
      if (s >= 500 || s == 408 || s == 413 || s == 499) upf[k]++
    }
  }
}
END { for (k in req) printf "%s %d %d %d %d\n", k, req[k], err[k] + 0, up[k] + 0, upf[k] + 0 }
