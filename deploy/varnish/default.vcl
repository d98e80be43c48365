# The edge cache of `make stack` (README: Caching), for Varnish 7.1 (Debian's package).
# The backend (gunicorn) is in backend.vcl, which deploy/varnish/start writes from WEB_BIND.
#
# - Anonymous GETs of the site are cached as Django's Cache-Control says (s-maxage; only "public"
#   responses without Set-Cookie or Vary: Cookie are stored), one copy for every reader: the
#   readers' own cookies (the feedback visitor cookie) are dropped on the way in.
# - A session cookie (signed-in staff), /admin/, /preview/ and anything but GET/HEAD pass: never
#   stored, never served from the cache.
# - Stale-if-error: a copy is kept a day past its TTL; if the backend fails (down, 5xx) the request
#   restarts and is served that copy.
# - BAN (Django's cancerindex/edge.py, on commit), only from this machine: X-Ban-Url is a regex of
#   URLs; every matching object goes, whatever its Host.
vcl 4.1;

include "backend.vcl";

acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.restarts == 0) {
        unset req.http.X-Edge-Stale;
        unset req.http.X-Edge-Cacheable;
    }
    if (req.method == "BAN") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (!req.http.X-Ban-Url) {
            return (synth(400, "X-Ban-Url missing"));
        }
        ban("obj.http.X-Url ~ " + req.http.X-Ban-Url);
        return (synth(200, "Banned"));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    if (req.url ~ "^/(admin|preview)/" || req.http.Authorization || req.http.Cookie ~ "(^|;\s*)sessionid=") {
        return (pass);
    }
    unset req.http.Cookie;
    # Three copies per URL, in brotli, gzipped and plain, each served as stored (no gunzip per request):
    # Django compresses once per render (treatments.cache). http_gzip_support is off
    # (deploy/varnish/start), so the normalised header is the key. A coding refused with q=0 is not taken.
    # A reader who takes both asks for both: the page cache answers in brotli, and a backend without it
    # (PAGE_CACHE=0: Django's GZipMiddleware) still in gzip, never plain.
    unset req.http.X-Codings;
    if (req.http.Accept-Encoding ~ "(?i)(^|,)\s*br\s*(,|;\s*q=(1|0?\.[0-9]*[1-9])|$)") {
        set req.http.X-Codings = "br";
    }
    if (req.http.Accept-Encoding ~ "(?i)(^|,)\s*gzip\s*(,|;\s*q=(1|0?\.[0-9]*[1-9])|$)") {
        if (req.http.X-Codings) {
            set req.http.X-Codings = req.http.X-Codings + ", gzip";
        } else {
            set req.http.X-Codings = "gzip";
        }
    }
    if (req.http.X-Codings) {
        set req.http.Accept-Encoding = req.http.X-Codings;
        unset req.http.X-Codings;
    } else {
        unset req.http.Accept-Encoding;
    }
    set req.http.X-Edge-Cacheable = "1";
    if (req.http.X-Edge-Stale) {
        set req.grace = 24h;  # the backend failed: any copy within grace is better than an error
    } else {
        set req.grace = 0s;   # while the backend answers, readers get the current page, fetched once
    }
    return (hash);
}

sub vcl_backend_fetch {
    # Django's page cache asks Redis whether its copy is current on each of the edge's fetches, instead
    # of trusting a copy it checked within PAGE_CACHE_RECHECK_SECONDS: a fetch right after another
    # process's purge would get the old page and keep it here for the whole TTL.
    set bereq.http.X-Edge-Fetch = "1";
}

sub vcl_backend_response {
    set beresp.http.X-Url = bereq.url;
    if (beresp.status >= 500 && bereq.is_bgfetch) {
        return (abandon);  # keep the copy we have
    }
    if (bereq.uncacheable) {
        return (deliver);
    }
    if (beresp.http.Set-Cookie || beresp.http.Cache-Control !~ "public" || beresp.http.Vary ~ "(?i)cookie"
            || beresp.http.Cache-Control ~ "(private|no-store|no-cache)") {
        # Hit-for-miss for two minutes, as Varnish's built-in VCL does: the URL's next readers go to the
        # backend at once. With no such object (a TTL of 0), each waited in line for the one before it
        # (a popular 404 or redirect, fetched one reader at a time). A cacheable answer replaces it; a
        # 5xx makes none, so a restart still finds the copy kept for stale-if-error.
        if (beresp.status < 500) {
            set beresp.ttl = 120s;
        } else {
            set beresp.ttl = 0s;
        }
        set beresp.uncacheable = true;
        return (deliver);
    }
    set beresp.grace = 24h;
    return (deliver);
}

sub vcl_backend_error {
    if (bereq.is_bgfetch) {
        return (abandon);
    }
}

sub vcl_deliver {
    if (resp.status >= 500 && req.http.X-Edge-Cacheable && !req.http.X-Edge-Stale) {
        set req.http.X-Edge-Stale = "1";
        return (restart);
    }
    unset resp.http.X-Url;
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
