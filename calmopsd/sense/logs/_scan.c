/* One pass in C over a block of JSON log lines (jsonlines.JsonFormat.block_scan).
 *
 * Each line is validated as JSON and its mapped keys read where JsonFormat.parse reads
 * them (time, status, method, route, request and level by key path; the organization by
 * the first match of its needle, as parse's regex does), and its minute computed as
 * timestamps.minute_of_iso and minute_of_epoch do. A line is counted only when what it
 * counts for is certain; any other line (malformed, not JSON, an escape or a duplicate
 * key where a mapped value is, a number orjson would read otherwise, a time parse would
 * refuse) is "doubtful": not counted, its start returned, and parsed
 * by Python on its own. So a block's counts are the sum of its lines' counts, and a line
 * counted here counts what parse() says it does.
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

enum { F_STATUS, F_METHOD, F_ROUTE, F_REQUEST, F_LEVEL, F_TIME, NFIELDS };
#define MAX_PARTS 4
#define MAX_DEPTH 64
#define MAX_NUMBER 18 /* digits of a mapped integer: orjson reads longer ones otherwise */
#define MAX_TOKEN 300 /* characters of any number (a double's range is not reached) */
#define MAX_LEVELS 16
#define MAX_UPLOAD 16

typedef struct {
    const char *p;
    Py_ssize_t n;
} span;

typedef struct {
    int parts[NFIELDS];
    span part[NFIELDS][MAX_PARTS];
    span org_key;    /* the organization key's last part, quoted (n == 0: none) */
    span time_key;   /* the time key's last part, quoted: the line must hold it once */
    span level_str[MAX_LEVELS];
    int n_level_str;
    long long level_int[MAX_LEVELS];
    int n_level_int;
    int level_bool; /* an error level equal to True or False (1 or 0) */
    span method[MAX_UPLOAD];
    int n_method;
    span route[MAX_UPLOAD]; /* fnmatch patterns whose only wildcard is * */
    int n_route;
    int failure[MAX_UPLOAD]; /* statuses below 500 that fail an upload */
    int n_failure;
    int flat;
} spec_t;

enum { V_NONE, V_STR, V_NUM, V_TRUE, V_FALSE, V_NULL, V_OBJ, V_ARR };

typedef struct {
    int type;
    span text;   /* a string's inside, a number's digits */
    int escaped; /* a string holding a backslash */
    int integer; /* a number without fraction or exponent */
} value_t;

#define MAX_ORG_KEYS 4

typedef struct {
    const char *p, *end, *start;
    const spec_t *spec;
    value_t found[NFIELDS];
    int seen[NFIELDS];
    /* Where the quoted time and organization keys occur in the line's bytes, as a search
     * would find them: each occurrence ends at a closing quote (the quote before it is an
     * opening or an escaped one), so they are noted as strings close. */
    int time_hits, org_hits;
    const char *time_at, *org_at[MAX_ORG_KEYS];
} line_t;

/* Does the string closing at ``q`` end with ``key`` (a quoted key, quotes included)? */
static inline int ends_with_key(const line_t *l, const char *q, span key) {
    return key.n > 0 && q[-1] == key.p[key.n - 2] && q + 1 - l->start >= key.n &&
           memcmp(q + 1 - key.n, key.p, (size_t)key.n) == 0;
}

static inline void note_close(line_t *l, const char *q) {
    const spec_t *spec = l->spec;
    if (ends_with_key(l, q, spec->time_key) && l->time_hits++ == 0)
        l->time_at = q + 1 - spec->time_key.n;
    if (ends_with_key(l, q, spec->org_key)) {
        if (l->org_hits < MAX_ORG_KEYS) l->org_at[l->org_hits] = q + 1 - spec->org_key.n;
        l->org_hits++;
    }
}

enum { OK = 0, DOUBT = 1 };

static inline void skip_ws(line_t *l) {
    while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r'))
        l->p++;
}

static inline int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One UTF-8 sequence starting at a byte >= 0x80, as orjson accepts it (no overlongs, no
 * surrogates, nothing past U+10FFFF). Returns its length, or 0. */
static Py_ssize_t utf8_length(const unsigned char *s, const unsigned char *end) {
    unsigned char c = s[0];
    Py_ssize_t n;
    unsigned int cp;
    if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
    else return 0;
    if (end - s < n) return 0;
    for (Py_ssize_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    return n;
}

/* Bytes a string cannot simply pass over: its end, an escape, a control character (not
 * allowed), the start of a UTF-8 sequence (checked). Filled by PyInit__scan. */
static unsigned char special[256];

/* A string at l->p (its opening quote). */
static int read_string(line_t *l, value_t *v) {
    const unsigned char *s = (const unsigned char *)l->p + 1;
    const unsigned char *end = (const unsigned char *)l->end;
    v->type = V_STR;
    v->escaped = 0;
    v->text.p = (const char *)s;
    while (s < end) {
        while (s < end && !special[*s]) s++;
        if (s >= end) break;
        unsigned char c = *s;
        if (c == '"') {
            v->text.n = (const char *)s - v->text.p;
            l->p = (const char *)s + 1;
            note_close(l, (const char *)s);
            return OK;
        }
        if (c < 0x20) return DOUBT;
        if (c == '\\') {
            v->escaped = 1;
            if (s + 1 >= end) return DOUBT;
            c = s[1];
            if (c == 'u') {
                if (end - s < 6) return DOUBT;
                int cp = 0;
                for (int i = 2; i < 6; i++) {
                    int h = hexval((char)s[i]);
                    if (h < 0) return DOUBT;
                    cp = cp * 16 + h;
                }
                if (cp >= 0xD800 && cp <= 0xDFFF) return DOUBT; /* surrogates: Python decides */
                s += 6;
                continue;
            }
            if (!strchr("\"\\/bfnrt", c) || c == 0) return DOUBT;
            s += 2;
            continue;
        }
        if (c >= 0x80) {
            Py_ssize_t n = utf8_length(s, end);
            if (n == 0) return DOUBT;
            s += n;
            continue;
        }
        s++;
    }
    return DOUBT;
}

static int read_number(line_t *l, value_t *v) {
    const char *s = l->p, *end = l->end;
    v->type = V_NUM;
    v->integer = 1;
    v->text.p = s;
    if (s < end && *s == '-') s++;
    if (s >= end) return DOUBT;
    if (*s == '0') s++;
    else if (*s >= '1' && *s <= '9') while (s < end && *s >= '0' && *s <= '9') s++;
    else return DOUBT;
    if (s < end && *s == '.') {
        v->integer = 0;
        s++;
        if (s >= end || *s < '0' || *s > '9') return DOUBT;
        while (s < end && *s >= '0' && *s <= '9') s++;
    }
    if (s < end && (*s == 'e' || *s == 'E')) return DOUBT; /* orjson refuses 1e400 */
    v->text.n = s - v->text.p;
    if (v->text.n > MAX_TOKEN) return DOUBT;
    l->p = s;
    return OK;
}

static int read_literal(line_t *l, value_t *v, const char *word, int type) {
    size_t n = strlen(word);
    if ((size_t)(l->end - l->p) < n || memcmp(l->p, word, n) != 0) return DOUBT;
    v->type = type;
    l->p += n;
    return OK;
}

static int read_value(line_t *l, int depth, unsigned int fields, value_t *v);

/* Past an object's or array's opening; is it closed at once (then past the ``closer``)? */
static int opens_empty(line_t *l, char closer) {
    l->p++;
    skip_ws(l);
    if (l->p < l->end && *l->p == closer) {
        l->p++;
        return 1;
    }
    return 0;
}

/* After a member or element: 1 past a comma (another follows), 0 past the ``closer``,
 * -1 at anything else. */
static int next_member(line_t *l, char closer) {
    skip_ws(l);
    if (l->p >= l->end) return -1;
    if (*l->p == ',') {
        l->p++;
        skip_ws(l);
        return 1;
    }
    if (*l->p == closer) {
        l->p++;
        return 0;
    }
    return -1;
}

/* An object at l->p ('{'). ``fields``: the mapped keys whose first ``depth`` parts led
 * here; a key that is their next part is recorded (the last part) or followed. */
static int read_object(line_t *l, int depth, unsigned int fields) {
    const spec_t *spec = l->spec;
    unsigned int matched = 0; /* fields whose part at this depth was a key here */
    if (depth >= MAX_DEPTH) return DOUBT;
    if (opens_empty(l, '}')) return OK;
    for (;;) {
        value_t key, v;
        if (l->p >= l->end || *l->p != '"') return DOUBT;
        if (read_string(l, &key) != OK) return DOUBT;
        skip_ws(l);
        if (l->p >= l->end || *l->p != ':') return DOUBT;
        l->p++;
        skip_ws(l);
        unsigned int leaf = 0, deeper = 0;
        if (fields) {
            if (key.escaped) return DOUBT; /* it might be a mapped key spelt otherwise */
            for (int f = 0; f < NFIELDS; f++) {
                if (!(fields & (1u << f))) continue;
                const span *part = &spec->part[f][depth];
                if (part->n != key.text.n || memcmp(part->p, key.text.p, part->n) != 0)
                    continue;
                if (matched & (1u << f)) return DOUBT; /* a duplicate: orjson keeps the last */
                matched |= 1u << f;
                if (spec->parts[f] == depth + 1) leaf |= 1u << f;
                else deeper |= 1u << f;
            }
        }
        if (read_value(l, depth, deeper, &v) != OK) return DOUBT;
        for (int f = 0; leaf && f < NFIELDS; f++) {
            if (leaf & (1u << f)) {
                l->found[f] = v;
                l->seen[f] = 1;
            }
        }
        int more = next_member(l, '}');
        if (more <= 0) return more == 0 ? OK : DOUBT;
    }
}

static int read_array(line_t *l, int depth) {
    if (depth >= MAX_DEPTH) return DOUBT;
    if (opens_empty(l, ']')) return OK;
    for (;;) {
        value_t v;
        if (read_value(l, depth, 0, &v) != OK) return DOUBT;
        int more = next_member(l, ']');
        if (more <= 0) return more == 0 ? OK : DOUBT;
    }
}

/* A value at l->p; ``fields`` continue into it when it is an object. */
static int read_value(line_t *l, int depth, unsigned int fields, value_t *v) {
    if (l->p >= l->end) return DOUBT;
    switch (*l->p) {
    case '"':
        return read_string(l, v);
    case '{':
        v->type = V_OBJ;
        return read_object(l, depth + 1, fields);
    case '[':
        v->type = V_ARR;
        return read_array(l, depth + 1);
    case 't':
        return read_literal(l, v, "true", V_TRUE);
    case 'f':
        return read_literal(l, v, "false", V_FALSE);
    case 'n':
        return read_literal(l, v, "null", V_NULL);
    default:
        return read_number(l, v);
    }
}

static inline int is_digit(char c) { return c >= '0' && c <= '9'; }

static int digits(const char *s, const char *end, int n) {
    if (end - s < n) return 0;
    for (int i = 0; i < n; i++)
        if (!is_digit(s[i])) return 0;
    return 1;
}

/* Past \d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)? (greedy), or NULL: the date and time
 * both PM2's --time prefix and an ISO time start with. */
static const char *past_date_and_time(const char *s, const char *end) {
    if (end - s < 16 || !digits(s, end, 4) || s[4] != '-' || !digits(s + 5, end, 2) ||
        s[7] != '-' || !digits(s + 8, end, 2) || (s[10] != 'T' && s[10] != ' ') ||
        !digits(s + 11, end, 2) || s[13] != ':' || !digits(s + 14, end, 2))
        return NULL;
    s += 16;
    if (end - s >= 3 && s[0] == ':' && digits(s + 1, end, 2)) {
        s += 3;
        if (end - s >= 2 && (s[0] == '.' || s[0] == ',') && is_digit(s[1])) {
            s++;
            while (s < end && is_digit(*s)) s++;
        }
    }
    return s;
}

/* Past PM2's --time prefix (jsonlines._PM2_PREFIX, matched greedily as the regex does):
 * \d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?: ?(?:Z|[+-]\d\d:?\d\d))?: */
static const char *past_prefix(const char *s, const char *end) {
    s = past_date_and_time(s, end);
    if (s == NULL) return NULL;
    const char *zone = s;
    if (zone < end && *zone == ' ') zone++;
    if (zone < end && *zone == 'Z') s = zone + 1;
    else if (zone < end && (*zone == '+' || *zone == '-') && digits(zone + 1, end, 2)) {
        const char *t = zone + 3;
        if (t < end && *t == ':') t++;
        if (digits(t, end, 2)) s = t + 2;
    }
    if (end - s >= 2 && s[0] == ':' && s[1] == ' ') return s + 2;
    return NULL;
}

static inline int org_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
           c == '-';
}

static inline int after_value(const char *s, const char *end) {
    /* (?=[,}\s]) */
    return s < end && (*s == ',' || *s == '}' || *s == ' ' || *s == '\t' || *s == '\r' ||
                       *s == '\f' || *s == '\v');
}

static const char *find(const char *s, const char *end, span needle) {
    if (needle.n == 0 || end - s < needle.n) return NULL;
    return memmem(s, (size_t)(end - s), needle.p, (size_t)needle.n);
}

/* The organization as parse() reads it: the first match of its key spelt with the line's
 * separator, then (?!(?:null|true|false)[,}\s])"?([A-Za-z0-9_-]*)"?(?=[,}\s]). Only the
 * certain cases: the key so spelt once in the line, and a simple value. */
static int read_org(const line_t *l, span sep, span *org, int *has) {
    const spec_t *spec = l->spec;
    const char *end = l->end, *at = NULL;
    *has = 0;
    if (spec->org_key.n == 0 || l->org_hits == 0) return OK;
    if (l->org_hits > MAX_ORG_KEYS) return DOUBT;
    for (int i = 0; i < l->org_hits; i++) {
        const char *t = l->org_at[i] + spec->org_key.n;
        if (end - t >= sep.n && memcmp(t, sep.p, (size_t)sep.n) == 0) {
            if (at != NULL) return DOUBT;
            at = l->org_at[i];
        }
    }
    if (at == NULL) return OK;
    const char *v = at + spec->org_key.n + sep.n;
    static const char *const words[] = {"null", "true", "false"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(end - v) >= n && memcmp(v, words[i], n) == 0 && after_value(v + n, end))
            return OK; /* no match here, and no other */
    }
    const char *t = v;
    int quoted = t < end && *t == '"';
    if (quoted) t++;
    const char *inner = t;
    while (t < end && org_char(*t)) t++;
    span raw = {inner, t - inner};
    if (quoted) {
        if (t >= end || *t != '"') return DOUBT;
        t++;
    }
    if (!after_value(t, end)) return DOUBT;
    *org = raw;
    *has = 1;
    return OK;
}

static int span_in(span s, const span *set, int n) {
    for (int i = 0; i < n; i++)
        if (set[i].n == s.n && memcmp(set[i].p, s.p, s.n) == 0) return 1;
    return 0;
}

/* fnmatch.fnmatchcase(path, route) for a route whose only wildcard is * (config/logs.py
 * refuses ? and [...]); * matches any bytes, / included, as fnmatch.translate's .* does. */
static int glob_match(span route, span path) {
    const char *r = route.p, *re = route.p + route.n, *p = path.p, *pe = path.p + path.n;
    const char *star = NULL, *resume = NULL;
    while (p < pe) {
        if (r < re && *r == '*') {
            star = ++r;
            resume = p;
        } else if (r < re && *r == *p) {
            r++;
            p++;
        } else if (star != NULL) {
            r = star;
            p = ++resume;
        } else {
            return 0;
        }
    }
    while (r < re && *r == '*') r++;
    return r == re;
}

/* Uploads.classify: the method one of the upload methods, the path (query cut off) matching
 * a route. */
static int uploads_match(const span *methods, int n_methods, const span *routes, int n_routes,
                         span method, span path) {
    if (!span_in(method, methods, n_methods)) return 0;
    const char *query = memchr(path.p, '?', (size_t)path.n);
    if (query != NULL) path.n = query - path.p;
    for (int i = 0; i < n_routes; i++)
        if (glob_match(routes[i], path)) return 1;
    return 0;
}

static int is_upload(const spec_t *spec, span method, span path) {
    return uploads_match(spec->method, spec->n_method, spec->route, spec->n_route, method, path);
}

static long long number_of(const char *s, int n) {
    long long value = 0;
    for (int i = 0; i < n; i++) value = value * 10 + (s[i] - '0');
    return value;
}

/* Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long long days_from_civil(long long y, long long m, long long d) {
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static inline int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* timestamps.minute_of_iso: the whole text must be
 * (\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::\d\d(?:[.,]\d+)?)?\s*(Z|[+-]\d\d:?\d\d)?
 * and a month, day (1-31, counted on from the month's first as calendar.timegm does), hour
 * and minute in range. */
static int iso_minute(span text, long long *minute) {
    const char *t = text.p, *end = text.p + text.n;
    const char *s = past_date_and_time(t, end);
    if (s == NULL) return DOUBT;
    long long year = number_of(t, 4), month = number_of(t + 5, 2), day = number_of(t + 8, 2);
    long long hour = number_of(t + 11, 2), mins = number_of(t + 14, 2);
    while (s < end && is_space(*s)) s++;
    long long offset = 0;
    if (s < end && *s == 'Z') s++;
    else if (s < end && (*s == '+' || *s == '-')) {
        int negative = *s == '-';
        if (!digits(s + 1, end, 2)) return DOUBT;
        const char *t = s + 3;
        if (t < end && *t == ':') t++;
        if (!digits(t, end, 2)) return DOUBT;
        offset = number_of(s + 1, 2) * 60 + number_of(t, 2);
        if (negative) offset = -offset;
        s = t + 2;
    }
    if (s != end) return DOUBT;
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || mins > 59)
        return DOUBT;
    long long days = days_from_civil(year, month, 1) + day - 1;
    *minute = days * 1440 + hour * 60 + mins - offset;
    return OK;
}

/* timestamps.minute_of_epoch on an integer: seconds, or milliseconds from 10^11. */
static int epoch_minute(const value_t *v, long long *minute) {
    if (!v->integer || v->text.p[0] == '-' || v->text.n > MAX_NUMBER)
        return DOUBT; /* floats, negatives and big numbers: Python decides */
    long long value = number_of(v->text.p, (int)v->text.n);
    if (value > 100000000000000LL) return DOUBT;
    *minute = value >= 100000000000LL ? value / 60000 : value / 60;
    return OK;
}

static inline int atoi_3(const char *s) {
    return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

typedef struct {
    long long minute;
    int request, server_error, error_line, upload, upload_failure;
    int has_org;
    span org;
} counts_t;

/* What one JSON line counts for; DOUBT when Python must parse it. */
static int json_line(const void *spec_p, const char *s, const char *end, counts_t *out) {
    const spec_t *spec = spec_p;
    if (s < end && *s != '{') {
        s = past_prefix(s, end);
        if (s == NULL) return DOUBT;
    }
    if (end - s < 2 || s[0] != '{' || s[1] != '"') return DOUBT;
    if (spec->flat) {
        int braces = 0;
        for (const char *t = s; t < end; t++) braces += *t == '{';
        if (braces != 1) return DOUBT; /* parse() reads such a line's organization otherwise */
    }
    line_t l;
    l.p = l.start = s;
    l.end = end;
    l.spec = spec;
    l.time_hits = l.org_hits = 0;
    memset(l.seen, 0, sizeof l.seen);
    unsigned int fields = 0;
    for (int f = 0; f < NFIELDS; f++)
        if (spec->parts[f] > 0) fields |= 1u << f;
    if (read_object(&l, 0, fields) != OK) return DOUBT;
    skip_ws(&l);
    if (l.p != end) return DOUBT;

    /* The time: parse() reads the separator and a raw number at the key's first match, so
     * the key once. */
    if (!l.seen[F_TIME] || l.time_hits != 1) return DOUBT;
    span sep = {l.time_at + spec->time_key.n, 0};
    const char *t = sep.p;
    while (t < end && is_space(*t)) t++;
    if (t >= end || *t != ':') return DOUBT;
    t++;
    while (t < end && is_space(*t)) t++;
    sep.n = t - sep.p;
    value_t *time = &l.found[F_TIME];
    if (time->type == V_STR) {
        if (time->escaped || iso_minute(time->text, &out->minute) != OK) return DOUBT;
    } else if (time->type != V_NUM || epoch_minute(time, &out->minute) != OK) {
        return DOUBT;
    }

    out->request = l.seen[F_STATUS];
    int status = -1;
    if (l.seen[F_STATUS]) {
        value_t *v = &l.found[F_STATUS];
        if (v->type == V_NUM && v->integer && v->text.p[0] != '-' && v->text.n == 3)
            status = atoi_3(v->text.p);
        else if (v->type == V_STR && v->escaped)
            return DOUBT; /* "\u0035\u0030\u0030" is 500 */
        else if (v->type == V_STR && v->text.n == 3 && digits(v->text.p, v->text.p + 3, 3))
            status = atoi_3(v->text.p);
    }
    out->server_error = status >= 500;

    out->error_line = 0;
    if (l.seen[F_LEVEL]) {
        value_t *v = &l.found[F_LEVEL];
        if (v->type == V_STR) {
            if (v->escaped) return DOUBT;
            out->error_line = span_in(v->text, spec->level_str, spec->n_level_str);
        } else if (v->type == V_NUM && v->integer) {
            if (v->text.n > MAX_NUMBER) return DOUBT;
            long long n = 0;
            const char *t = v->text.p;
            int negative = *t == '-';
            for (t += negative; t < v->text.p + v->text.n; t++) n = n * 10 + (*t - '0');
            if (negative) n = -n;
            for (int i = 0; i < spec->n_level_int; i++)
                if (spec->level_int[i] == n) out->error_line = 1;
        } else if ((v->type == V_TRUE || v->type == V_FALSE) && spec->level_bool) {
            return DOUBT;
        }
    }

    out->upload = out->upload_failure = 0;
    if (status >= 0) { /* an upload only counts with a status */
        span method = {NULL, 0}, path = {NULL, 0};
        int strings = 0;
        if (spec->parts[F_REQUEST] > 0) {
            value_t *v = &l.found[F_REQUEST];
            if (l.seen[F_REQUEST] && v->type == V_STR) {
                if (v->escaped) return DOUBT;
                const char *a = v->text.p, *z = a + v->text.n;
                const char *sp = memchr(a, ' ', (size_t)(z - a));
                if (sp != NULL) {
                    const char *sp2 = memchr(sp + 1, ' ', (size_t)(z - sp - 1));
                    method.p = a;
                    method.n = sp - a;
                    path.p = sp + 1;
                    path.n = (sp2 ? sp2 : z) - path.p;
                    strings = 1;
                }
            }
        } else if (l.seen[F_METHOD] && l.seen[F_ROUTE] && l.found[F_METHOD].type == V_STR &&
                   l.found[F_ROUTE].type == V_STR) {
            if (l.found[F_METHOD].escaped || l.found[F_ROUTE].escaped) return DOUBT;
            method = l.found[F_METHOD].text;
            path = l.found[F_ROUTE].text;
            strings = 1;
        }
        if (strings && is_upload(spec, method, path)) {
            out->upload = 1;
            out->upload_failure = status >= 500;
            for (int i = 0; i < spec->n_failure; i++)
                if (spec->failure[i] == status) out->upload_failure = 1;
        }
    }
    return read_org(&l, sep, &out->org, &out->has_org);
}

/* ---- counts by (minute, organization), in the order first seen (a round admits
 * organizations up to its limit in that order): a dense array found by an index table ---- */

typedef struct {
    long long minute;
    int has_org;
    span org;
    long counts[5];
} entry_t;

typedef struct {
    entry_t *entries;
    Py_ssize_t *index; /* -1: empty */
    Py_ssize_t size, used;
} table_t;

static size_t hash_key(long long minute, int has_org, span org) {
    size_t h = 1469598103934665603ULL ^ (size_t)minute ^ ((size_t)has_org << 62);
    for (Py_ssize_t i = 0; i < org.n; i++) h = (h ^ (unsigned char)org.p[i]) * 1099511628211ULL;
    return h * 1099511628211ULL;
}

static int table_grow(table_t *t) {
    Py_ssize_t size = t->size ? t->size * 2 : 64;
    Py_ssize_t *index = malloc((size_t)size * sizeof(Py_ssize_t));
    entry_t *entries = realloc(t->entries, (size_t)(size / 2) * sizeof(entry_t));
    if (entries != NULL) t->entries = entries;
    if (index == NULL || entries == NULL) {
        free(index);
        return -1;
    }
    for (Py_ssize_t i = 0; i < size; i++) index[i] = -1;
    for (Py_ssize_t e = 0; e < t->used; e++) {
        entry_t *entry = &entries[e];
        size_t j = hash_key(entry->minute, entry->has_org, entry->org) & (size_t)(size - 1);
        while (index[j] >= 0) j = (j + 1) & (size_t)(size - 1);
        index[j] = e;
    }
    free(t->index);
    t->index = index;
    t->size = size;
    return 0;
}

static long *table_counts(table_t *t, const counts_t *line) {
    if ((t->used + 1) * 2 > t->size && table_grow(t) < 0) return NULL;
    span org = line->has_org ? line->org : (span){NULL, 0};
    size_t j = hash_key(line->minute, line->has_org, org) & (size_t)(t->size - 1);
    for (;;) {
        Py_ssize_t e = t->index[j];
        if (e < 0) {
            entry_t *entry = &t->entries[t->used];
            entry->minute = line->minute;
            entry->has_org = line->has_org;
            entry->org = org;
            memset(entry->counts, 0, sizeof entry->counts);
            t->index[j] = t->used++;
            return entry->counts;
        }
        entry_t *entry = &t->entries[e];
        if (entry->minute == line->minute && entry->has_org == line->has_org &&
            entry->org.n == org.n && (org.n == 0 || memcmp(entry->org.p, org.p, org.n) == 0))
            return entry->counts;
        j = (j + 1) & (size_t)(t->size - 1);
    }
}

/* ---- the spec: a tuple made once by jsonlines.JsonFormat ---- */

static int read_spans(PyObject *seq, span *out, int max, const char *what) {
    if (!PyTuple_Check(seq)) {
        PyErr_Format(PyExc_TypeError, "%s: a tuple of bytes", what);
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    if (n > max) {
        PyErr_Format(PyExc_ValueError, "%s: at most %d", what, max);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(seq, i);
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "%s: a tuple of bytes", what);
            return -1;
        }
        out[i].p = PyBytes_AS_STRING(item);
        out[i].n = PyBytes_GET_SIZE(item);
    }
    return (int)n;
}

/* Upload routes: fnmatch patterns whose only wildcard is *. */
static int read_routes(PyObject *routes, span *out) {
    int n = read_spans(routes, out, MAX_UPLOAD, "routes");
    for (int i = 0; i < n; i++) {
        if (memchr(out[i].p, '?', (size_t)out[i].n) || memchr(out[i].p, '[', (size_t)out[i].n)) {
            PyErr_SetString(PyExc_ValueError, "routes: * is the only wildcard");
            return -1;
        }
    }
    return n;
}

/* (paths, org_key, time_key, level_strs, level_ints, methods, routes, failures, flat): paths a
 * tuple of six tuples of key parts (status, method, route, request, level, time; empty: not
 * mapped), org_key and time_key those keys' last parts quoted. */
static int read_spec(PyObject *tuple, spec_t *spec) {
    PyObject *paths, *needle, *level_strs, *level_ints, *methods, *routes, *failures;
    int flat;
    memset(spec, 0, sizeof *spec);
    if (!PyArg_ParseTuple(tuple, "O!Oy#O!O!O!O!O!p", &PyTuple_Type, &paths, &needle,
                          &spec->time_key.p, &spec->time_key.n, &PyTuple_Type, &level_strs,
                          &PyTuple_Type, &level_ints, &PyTuple_Type, &methods, &PyTuple_Type,
                          &routes, &PyTuple_Type, &failures, &flat))
        return -1;
    if (PyTuple_GET_SIZE(paths) != NFIELDS) {
        PyErr_SetString(PyExc_ValueError, "paths: six tuples");
        return -1;
    }
    for (int f = 0; f < NFIELDS; f++) {
        int n = read_spans(PyTuple_GET_ITEM(paths, f), spec->part[f], MAX_PARTS, "paths");
        if (n < 0) return -1;
        spec->parts[f] = n;
    }
    if (needle != Py_None) {
        if (!PyBytes_Check(needle)) {
            PyErr_SetString(PyExc_TypeError, "org_key: bytes or None");
            return -1;
        }
        spec->org_key.p = PyBytes_AS_STRING(needle);
        spec->org_key.n = PyBytes_GET_SIZE(needle);
    }
    if ((spec->n_level_str = read_spans(level_strs, spec->level_str, MAX_LEVELS, "levels")) < 0)
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(level_ints);
    if (n > MAX_LEVELS) {
        PyErr_SetString(PyExc_ValueError, "levels: at most 16");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long long value = PyLong_AsLongLong(PyTuple_GET_ITEM(level_ints, i));
        if (value == -1 && PyErr_Occurred()) return -1;
        spec->level_int[i] = value;
        if (value == 0 || value == 1) spec->level_bool = 1;
    }
    spec->n_level_int = (int)n;
    if ((spec->n_method = read_spans(methods, spec->method, MAX_UPLOAD, "methods")) < 0)
        return -1;
    if ((spec->n_route = read_routes(routes, spec->route)) < 0) return -1;
    n = PyTuple_GET_SIZE(failures);
    if (n > MAX_UPLOAD) {
        PyErr_SetString(PyExc_ValueError, "failures: at most 16");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long value = PyLong_AsLong(PyTuple_GET_ITEM(failures, i));
        if (value == -1 && PyErr_Occurred()) return -1;
        spec->failure[i] = (int)value;
    }
    spec->n_failure = (int)n;
    spec->flat = flat;
    if (spec->parts[F_TIME] == 0 || spec->time_key.n < 3) {
        PyErr_SetString(PyExc_ValueError, "a time key is needed");
        return -1;
    }
    if (spec->org_key.n > 0 && spec->org_key.n < 3) {
        PyErr_SetString(PyExc_ValueError, "org_key: a key, quoted");
        return -1;
    }
    return 0;
}

/* ================================ nginx ================================ */

/* nginx.NginxFormat's line regex as a sequence of elements, matched with backtracking in
 * the regex engine's order (greedy: longest first; lazy: shortest first), so the captures
 * are the ones fullmatch() gives. */
enum {
    E_LITERAL,  /* the bytes themselves */
    E_NOTQUOTE, /* ([^"\n]*) */
    E_LAZY,     /* ([^\n]*?) */
    E_TIME_LOCAL, E_TIME_ISO, E_MSEC, E_STATUS, E_NOTSPACE, E_DIGITS_OR_DASH,
    E_DECIMAL_OR_DASH, E_DIGITS, E_PIPE,
};
#define MAX_ELEMENTS 96
#define MAX_STEPS 4096 /* backtracking steps a line may take before Python decides */

typedef struct {
    int kind;
    span literal;
    int capture; /* the variable's number, -1 for a literal */
} element_t;

typedef struct {
    element_t element[MAX_ELEMENTS];
    int n_element, n_capture;
    int trailer; /* combined read as a prefix: (?:[ \t][^\n]*)? */
    int time, time_kind, status, request, method, path, org; /* capture numbers, -1: none */
    span method_set[MAX_UPLOAD];
    int n_method;
    span route[MAX_UPLOAD];
    int n_route;
    int failure[MAX_UPLOAD];
    int n_failure;
} nginx_spec_t;

typedef struct {
    const nginx_spec_t *spec;
    const char *end;
    span capture[MAX_ELEMENTS];
    int steps;
} match_t;

static inline int in_class(int kind, char c) {
    switch (kind) {
    case E_NOTQUOTE: return c != '"' && c != '\n';
    case E_LAZY: return c != '\n';
    case E_NOTSPACE: return c != ' ' && c != '\n';
    case E_DIGITS: return is_digit(c);
    default: return 0;
    }
}

/* The lengths a tight element may take at s, in the regex's order of trying them. */
static int tight_lengths(int kind, const char *s, const char *end, Py_ssize_t *out, int room) {
    Py_ssize_t left = end - s;
    int n = 0;
    switch (kind) {
    case E_TIME_LOCAL: /* \d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4} */
        if (left >= 26 && digits(s, end, 2) && s[2] == '/' && s[3] >= 'A' && s[3] <= 'Z' &&
            s[4] >= 'a' && s[4] <= 'z' && s[5] >= 'a' && s[5] <= 'z' && s[6] == '/' &&
            digits(s + 7, end, 4) && s[11] == ':' && digits(s + 12, end, 2) && s[14] == ':' &&
            digits(s + 15, end, 2) && s[17] == ':' && digits(s + 18, end, 2) && s[20] == ' ' &&
            (s[21] == '+' || s[21] == '-') && digits(s + 22, end, 4))
            out[n++] = 26;
        return n;
    case E_TIME_ISO: /* \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[+-]\d\d:\d\d|Z) */
        if (left < 20 || !digits(s, end, 4) || s[4] != '-' || !digits(s + 5, end, 2) ||
            s[7] != '-' || !digits(s + 8, end, 2) || s[10] != 'T' || !digits(s + 11, end, 2) ||
            s[13] != ':' || !digits(s + 14, end, 2) || s[16] != ':' || !digits(s + 17, end, 2))
            return 0;
        if (left >= 25 && (s[19] == '+' || s[19] == '-') && digits(s + 20, end, 2) &&
            s[22] == ':' && digits(s + 23, end, 2))
            out[n++] = 25;
        if (s[19] == 'Z') out[n++] = 20;
        return n;
    case E_MSEC: { /* \d+\.\d+ */
        const char *t = s;
        while (t < end && is_digit(*t)) t++;
        if (t == s || t >= end || *t != '.') return 0;
        const char *u = t + 1;
        while (u < end && is_digit(*u)) u++;
        for (const char *v = u; v > t + 1 && n < room; v--) out[n++] = v - s;
        return n;
    }
    case E_STATUS: /* \d{3} */
        if (digits(s, end, 3)) out[n++] = 3;
        return n;
    case E_DIGITS_OR_DASH:   /* \d+|- */
    case E_DECIMAL_OR_DASH: { /* [\d.]+|- */
        const char *t = s;
        while (t < end && (is_digit(*t) || (kind == E_DECIMAL_OR_DASH && *t == '.'))) t++;
        for (const char *v = t; v > s && n < room; v--) out[n++] = v - s;
        if (s < end && *s == '-' && n < room) out[n++] = 1;
        return n;
    }
    case E_PIPE: /* [p.] */
        if (s < end && (*s == 'p' || *s == '.')) out[n++] = 1;
        return n;
    default:
        return 0;
    }
}

/* Does the rest of the pattern, from element i, match all of [s, end)? */
static int match_from(match_t *m, int i, const char *s) {
    const nginx_spec_t *spec = m->spec;
    const char *end = m->end;
    if (++m->steps > MAX_STEPS) return -1;
    if (i == spec->n_element) {
        if (s == end) return 1;
        return spec->trailer && (*s == ' ' || *s == '\t'); /* the rest has no newline */
    }
    const element_t *e = &spec->element[i];
    if (e->kind == E_LITERAL) {
        if (end - s < e->literal.n || memcmp(s, e->literal.p, (size_t)e->literal.n) != 0)
            return 0;
        return match_from(m, i + 1, s + e->literal.n);
    }
    if (e->kind == E_NOTQUOTE || e->kind == E_NOTSPACE || e->kind == E_DIGITS ||
        e->kind == E_LAZY) {
        const char *t = s;
        while (t < end && in_class(e->kind, *t)) t++;
        if (e->kind == E_DIGITS && t == s) return 0; /* \d+ */
        const char *low = e->kind == E_DIGITS ? s + 1 : s;
        if (e->kind == E_LAZY) {
            /* Shortest first; where a literal follows, only where it starts can match. */
            const element_t *next = i + 1 < spec->n_element ? &spec->element[i + 1] : NULL;
            for (const char *v = low; v <= t; v++) {
                if (next != NULL && next->kind == E_LITERAL) {
                    v = find(v, end, next->literal);
                    if (v == NULL || v > t) return 0;
                }
                m->capture[e->capture] = (span){s, v - s};
                int found = match_from(m, i + 1, v);
                if (found) return found;
            }
            return 0;
        }
        for (const char *v = t; v >= low; v--) {
            m->capture[e->capture] = (span){s, v - s};
            int found = match_from(m, i + 1, v);
            if (found) return found;
        }
        return 0;
    }
    Py_ssize_t lengths[64];
    int n = tight_lengths(e->kind, s, end, lengths, 64);
    if (n == 64) return -1; /* more ways than tried here: Python decides */
    for (int k = 0; k < n; k++) {
        m->capture[e->capture] = (span){s, lengths[k]};
        int found = match_from(m, i + 1, s + lengths[k]);
        if (found) return found;
    }
    return 0;
}

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* timestamps.minute_of_time_local on text the element matched. */
static int time_local_minute(span t, long long *minute) {
    const char *s = t.p;
    int month = 0;
    for (int i = 0; i < 12; i++)
        if (memcmp(s + 3, months[i], 3) == 0) month = i + 1;
    if (month == 0) return DOUBT;
    long long day = number_of(s, 2), year = number_of(s + 7, 4);
    long long hour = number_of(s + 12, 2), mins = number_of(s + 15, 2);
    long long offset = number_of(s + 22, 2) * 60 + number_of(s + 24, 2);
    if (s[21] == '-') offset = -offset;
    if (year < 1 || day < 1 || day > 31 || hour > 23 || mins > 59) return DOUBT;
    *minute = (days_from_civil(year, month, 1) + day - 1) * 1440 + hour * 60 + mins - offset;
    return OK;
}

/* timestamps.minute_of_epoch_text: (\d{9,13})(?:\.\d+)? read as a float; with at most three
 * decimals (msec's) the float's floor is the integer part's. */
static int epoch_text_minute(span t, long long *minute) {
    const char *s = t.p, *end = t.p + t.n, *dot = memchr(s, '.', (size_t)t.n);
    const char *whole_end = dot ? dot : end;
    Py_ssize_t whole = whole_end - s;
    if (whole < 9 || whole > 13 || !digits(s, whole_end, (int)whole)) return DOUBT;
    if (dot != NULL && (end - dot - 1 < 1 || end - dot - 1 > 3 ||
                        !digits(dot + 1, end, (int)(end - dot - 1))))
        return DOUBT;
    long long value = number_of(s, (int)whole);
    if (value > 100000000000000LL) return DOUBT;
    *minute = value >= 100000000000LL ? value / 60000 : value / 60;
    return OK;
}

static int nginx_line(const void *spec_p, const char *s, const char *end, counts_t *out) {
    const nginx_spec_t *spec = spec_p;
    match_t m;
    m.spec = spec;
    m.end = end;
    m.steps = 0;
    if (match_from(&m, 0, s) != 1) return DOUBT;
    span time = m.capture[spec->time];
    int timed = spec->time_kind == 0   ? time_local_minute(time, &out->minute)
                : spec->time_kind == 1 ? iso_minute(time, &out->minute)
                                       : epoch_text_minute(time, &out->minute);
    if (timed != OK) return DOUBT;
    int status = atoi_3(m.capture[spec->status].p);
    out->request = 1;
    out->server_error = status >= 500;
    out->error_line = 0;
    span method = {s, 0}, path = {s, 0};
    if (spec->request >= 0) {
        span r = m.capture[spec->request];
        const char *sp = memchr(r.p, ' ', (size_t)r.n);
        if (sp != NULL) {
            const char *z = r.p + r.n, *sp2 = memchr(sp + 1, ' ', (size_t)(z - sp - 1));
            method = (span){r.p, sp - r.p};
            path = (span){sp + 1, (sp2 ? sp2 : z) - sp - 1};
        }
    } else {
        if (spec->method >= 0) method = m.capture[spec->method];
        if (spec->path >= 0) path = m.capture[spec->path];
    }
    out->upload = out->upload_failure = 0;
    if (uploads_match(spec->method_set, spec->n_method, spec->route, spec->n_route, method,
                      path)) {
        out->upload = 1;
        out->upload_failure = status >= 500;
        for (int i = 0; i < spec->n_failure; i++)
            if (spec->failure[i] == status) out->upload_failure = 1;
    }
    out->has_org = spec->org >= 0;
    if (out->has_org) out->org = m.capture[spec->org];
    return OK;
}

static int read_ints(PyObject *tuple, int *out, int max, const char *what) {
    Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    if (n > max) {
        PyErr_Format(PyExc_ValueError, "%s: at most %d", what, max);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        long value = PyLong_AsLong(PyTuple_GET_ITEM(tuple, i));
        if (value == -1 && PyErr_Occurred()) return -1;
        out[i] = (int)value;
    }
    return (int)n;
}

/* (elements, trailer, (time, time_kind, status, request, method, path, org), methods, routes,
 * failures): elements a tuple of (kind, literal bytes) pairs, variables numbered in order. */
static int read_nginx_spec(PyObject *tuple, nginx_spec_t *spec) {
    PyObject *elements, *indexes, *methods, *routes, *failures;
    int trailer;
    memset(spec, 0, sizeof *spec);
    if (!PyArg_ParseTuple(tuple, "O!pO!O!O!O!", &PyTuple_Type, &elements, &trailer,
                          &PyTuple_Type, &indexes, &PyTuple_Type, &methods, &PyTuple_Type,
                          &routes, &PyTuple_Type, &failures))
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(elements);
    if (n > MAX_ELEMENTS) {
        PyErr_SetString(PyExc_ValueError, "elements: at most 96");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        element_t *e = &spec->element[i];
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(elements, i), "iy#", &e->kind, &e->literal.p,
                              &e->literal.n))
            return -1;
        if (e->kind < E_LITERAL || e->kind > E_PIPE) {
            PyErr_SetString(PyExc_ValueError, "elements: an unknown kind");
            return -1;
        }
        e->capture = e->kind == E_LITERAL ? -1 : spec->n_capture++;
    }
    spec->n_element = (int)n;
    spec->trailer = trailer;
    int at[7];
    if (read_ints(indexes, at, 7, "indexes") != 7) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "indexes: seven numbers");
        return -1;
    }
    spec->time = at[0];
    spec->time_kind = at[1];
    spec->status = at[2];
    spec->request = at[3];
    spec->method = at[4];
    spec->path = at[5];
    spec->org = at[6];
    for (int i = 0; i < 7; i++) {
        if (i != 1 && (at[i] < -1 || at[i] >= spec->n_capture)) {
            PyErr_SetString(PyExc_ValueError, "indexes: a variable the format lacks");
            return -1;
        }
    }
    if (spec->time < 0 || spec->status < 0 || spec->time_kind < 0 || spec->time_kind > 2) {
        PyErr_SetString(PyExc_ValueError, "a time and a status are needed");
        return -1;
    }
    /* The time and status are read at fixed offsets: their elements must be of their kind. */
    static const int time_kinds[] = {E_TIME_LOCAL, E_TIME_ISO, E_MSEC};
    int time_ok = 0, status_ok = 0;
    for (int i = 0; i < spec->n_element; i++) {
        const element_t *e = &spec->element[i];
        if (e->capture == spec->time) time_ok = e->kind == time_kinds[spec->time_kind];
        if (e->capture == spec->status) status_ok = e->kind == E_STATUS;
    }
    if (!time_ok || !status_ok) {
        PyErr_SetString(PyExc_ValueError, "the time and status variables' kinds");
        return -1;
    }
    if ((spec->n_method = read_spans(methods, spec->method_set, MAX_UPLOAD, "methods")) < 0 ||
        (spec->n_route = read_routes(routes, spec->route)) < 0 ||
        (spec->n_failure = read_ints(failures, spec->failure, MAX_UPLOAD, "failures")) < 0)
        return -1;
    return 0;
}

/* ============================ the block loop ============================ */

typedef int (*line_fn)(const void *spec, const char *s, const char *end, counts_t *out);

static int append_int(PyObject *list, long long value) {
    PyObject *item = PyLong_FromLongLong(value);
    if (item == NULL) return -1;
    int failed = PyList_Append(list, item);
    Py_DECREF(item);
    return failed;
}

/* Every whole line of buf[:stop] through ``scan``: (counts, doubtful, before). */
static PyObject *scan_block(Py_buffer *buf, Py_ssize_t stop, line_fn scan, const void *spec) {
    PyObject *result = NULL, *counts = NULL, *doubtful = NULL, *before = NULL;
    table_t table = {NULL, NULL, 0, 0};
    /* Lines left to Python: (start, minute of the last line counted before it) pairs. */
    long long *left = NULL;
    Py_ssize_t n_left = 0, room = 0;
    int failed = 0;
    if (stop < 0 || stop > buf->len) {
        PyErr_SetString(PyExc_ValueError, "stop must lie within buf");
        return NULL;
    }
    doubtful = PyList_New(0);
    before = PyList_New(0);
    counts = PyDict_New();
    if (doubtful == NULL || before == NULL || counts == NULL) goto done;
    const char *base = buf->buf;
    Py_BEGIN_ALLOW_THREADS /* buf is immutable bytes; nothing below touches Python */
    const char *s = base, *end = base + stop;
    long long last = -1;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        if (nl == NULL) break; /* whole lines only: a partial last line is not counted */
        counts_t line;
        if (scan(spec, s, nl, &line) != OK) {
            if (n_left == room) {
                room = room ? room * 2 : 256;
                long long *more = realloc(left, (size_t)room * 2 * sizeof(long long));
                if (more == NULL) {
                    failed = 1;
                    break;
                }
                left = more;
            }
            left[2 * n_left] = s - base;
            left[2 * n_left + 1] = last;
            n_left++;
        } else {
            long *row = table_counts(&table, &line);
            if (row == NULL) {
                failed = 1;
                break;
            }
            row[0] += line.request;
            row[1] += line.server_error;
            row[2] += line.error_line;
            row[3] += line.upload;
            row[4] += line.upload_failure;
            last = line.minute;
        }
        s = nl + 1;
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n_left; i++)
        if (append_int(doubtful, left[2 * i]) < 0 || append_int(before, left[2 * i + 1]) < 0)
            goto done;
    for (Py_ssize_t e = 0; e < table.used; e++) {
        entry_t *entry = &table.entries[e];
        PyObject *org = entry->has_org ? PyBytes_FromStringAndSize(entry->org.p, entry->org.n)
                                       : Py_NewRef(Py_None);
        PyObject *key = org ? Py_BuildValue("(LN)", entry->minute, org) : NULL;
        PyObject *row = key ? Py_BuildValue("[lllll]", entry->counts[0], entry->counts[1],
                                            entry->counts[2], entry->counts[3],
                                            entry->counts[4])
                            : NULL;
        int bad = row == NULL || PyDict_SetItem(counts, key, row) < 0;
        Py_XDECREF(key);
        Py_XDECREF(row);
        if (bad) goto done;
    }
    result = PyTuple_Pack(3, counts, doubtful, before);
done:
    free(left);
    Py_XDECREF(counts);
    Py_XDECREF(doubtful);
    Py_XDECREF(before);
    free(table.entries);
    free(table.index);
    return result;
}

#define SCAN_DOC                                                                              \
    "Count the whole lines of buf[:stop]: counts maps (minute, raw organization or None)\n"  \
    "to [requests, server errors, error lines, uploads, upload failures] in the order\n"     \
    "first seen; doubtful lists the starts of the lines not counted, which Python parses\n" \
    "on its own, and before the minute of the last line counted before each (-1: none)."

PyDoc_STRVAR(scan_json_doc, "scan_json(buf, stop, spec) -> (counts, doubtful, before)\n\n" SCAN_DOC);
PyDoc_STRVAR(scan_nginx_doc,
             "scan_nginx(buf, stop, spec) -> (counts, doubtful, before)\n\n" SCAN_DOC);

static PyObject *scan_json(PyObject *module, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t stop;
    PyObject *spec_tuple, *result = NULL;
    spec_t spec;
    (void)module;
    if (!PyArg_ParseTuple(args, "y*nO!", &buf, &stop, &PyTuple_Type, &spec_tuple)) return NULL;
    if (!PyBytes_Check(buf.obj)) { /* read with the GIL released: it must not change */
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_TypeError, "buf must be bytes");
        return NULL;
    }
    if (read_spec(spec_tuple, &spec) == 0) result = scan_block(&buf, stop, json_line, &spec);
    PyBuffer_Release(&buf);
    return result;
}

static PyObject *scan_nginx(PyObject *module, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t stop;
    PyObject *spec_tuple, *result = NULL;
    (void)module;
    if (!PyArg_ParseTuple(args, "y*nO!", &buf, &stop, &PyTuple_Type, &spec_tuple)) return NULL;
    if (!PyBytes_Check(buf.obj)) { /* read with the GIL released: it must not change */
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_TypeError, "buf must be bytes");
        return NULL;
    }
    nginx_spec_t *spec = PyMem_Malloc(sizeof *spec);
    if (spec == NULL) {
        PyBuffer_Release(&buf);
        return PyErr_NoMemory();
    }
    if (read_nginx_spec(spec_tuple, spec) == 0) result = scan_block(&buf, stop, nginx_line, spec);
    PyMem_Free(spec);
    PyBuffer_Release(&buf);
    return result;
}

static PyMethodDef methods[] = {
    {"scan_json", scan_json, METH_VARARGS, scan_json_doc},
    {"scan_nginx", scan_nginx, METH_VARARGS, scan_nginx_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan",
    "Count JSON and nginx log lines in one pass in C; lines it is not sure of are left to Python.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__scan(void) {
    for (int c = 0; c < 256; c++) special[c] = c < 0x20 || c == '"' || c == '\\' || c >= 0x80;
    return PyModule_Create(&module);
}
