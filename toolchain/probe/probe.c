/*
 * opsbook-probe: the HTTP health check for any team's image. Swarm services get it as a swarm
 * config mounted executable at /opsbook-probe (mode 0555) and run it in exec form
 * (["CMD", "/opsbook-probe", "http://127.0.0.1:8080/health"]), so a health check assumes nothing
 * inside the image: no shell, no curl, no node, no libc, no DNS. It is built static against musl
 * (scripts/lib/probe.sh), depends on nothing but the kernel, and stays far below the 500 KB limit
 * of a swarm config.
 *
 *   opsbook-probe <url> [--timeout SECONDS]
 *
 *   url      http://127.0.0.1:<port><path>, http://localhost:<port><path> or http://[::1]:<port><path>
 *            (any IPv4/IPv6 literal works; host names other than localhost are refused: no DNS).
 *            Port defaults to 80, path to /.
 *   timeout  for the whole check (connect, send, status line); default 3, fractions allowed.
 *
 * One HTTP/1.0 GET. Exit 0 when the status is 2xx; 1 for anything else: another status
 * (redirects are not followed: a 3xx health endpoint is a misconfigured probe URL), connection
 * refused, timeout, a response that is not HTTP, bad arguments. Exit 2 is never used (Docker
 * reserves it). Prints one short line on stdout, which Docker keeps in the health log: what was
 * seen, never the response body nor any header.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_PATH 1024
#define MAX_STATUS_LINE 512

static const char *volatile stage = "starting";
static char timeout_msg[MAX_PATH + 160];

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("opsbook-probe: ", stdout);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    va_end(ap);
}

static void usage_fail(const char *why) {
    say("%s (usage: opsbook-probe http://127.0.0.1:<port>/<path> [--timeout SECONDS])", why);
    exit(1);
}

/* SIGALRM: the deadline passed. Only async-signal-safe calls here. */
static void on_alarm(int sig) {
    (void)sig;
    const char *s = stage;
    ssize_t r = write(1, timeout_msg, strlen(timeout_msg));
    r = write(1, s, strlen(s));
    r = write(1, ")\n", 2);
    (void)r;
    _exit(1);
}

static long elapsed_ms(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000L + (t1.tv_nsec - t0->tv_nsec) / 1000000L;
}

struct target {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char host[72]; /* as written in the URL, for the Host header and messages */
    unsigned port;
    char path[MAX_PATH + 1];
};

/* Parses http://HOST[:PORT][/PATH]; HOST is localhost or an IP literal ([...] for IPv6). */
static void parse_url(const char *url, struct target *t) {
    const char *p, *host_end, *after;
    size_t n;
    char host[64];

    memset(t, 0, sizeof *t);
    if (strncmp(url, "http://", 7) != 0) usage_fail("the url must start with http:// (no TLS: probe the container's plain port)");
    p = url + 7;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end) usage_fail("unclosed [ in the url's host");
        n = (size_t)(host_end - p - 1);
        if (n == 0 || n >= sizeof host) usage_fail("bad IPv6 host in the url");
        memcpy(host, p + 1, n);
        host[n] = '\0';
        after = host_end + 1;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&t->addr;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) usage_fail("bad IPv6 address in the url");
        a6->sin6_family = AF_INET6;
        t->addrlen = sizeof *a6;
        snprintf(t->host, sizeof t->host, "[%s]", host);
    } else {
        n = strcspn(p, ":/?#");
        if (n == 0 || n >= sizeof host) usage_fail("missing or overlong host in the url");
        memcpy(host, p, n);
        host[n] = '\0';
        after = p + n;
        struct sockaddr_in *a4 = (struct sockaddr_in *)&t->addr;
        if (strcmp(host, "localhost") == 0) {
            a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        } else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
            usage_fail("the url's host must be 127.0.0.1, localhost, [::1] or another IP literal (no DNS)");
        }
        a4->sin_family = AF_INET;
        t->addrlen = sizeof *a4;
        snprintf(t->host, sizeof t->host, "%s", host);
    }

    t->port = 80;
    if (*after == ':') {
        char *end;
        errno = 0;
        unsigned long port = strtoul(after + 1, &end, 10);
        if (end == after + 1 || errno || port < 1 || port > 65535 || (*end && *end != '/' && *end != '?'))
            usage_fail("the url's port must be 1-65535");
        t->port = (unsigned)port;
        after = end;
    } else if (*after && *after != '/' && *after != '?') {
        usage_fail("unexpected character after the url's host");
    }
    if (t->addr.ss_family == AF_INET6) ((struct sockaddr_in6 *)&t->addr)->sin6_port = htons((unsigned short)t->port);
    else ((struct sockaddr_in *)&t->addr)->sin_port = htons((unsigned short)t->port);

    if (*after == '\0') {
        strcpy(t->path, "/");
    } else {
        size_t len = strcspn(after, "#"); /* a fragment is never sent */
        size_t slash = *after == '?'; /* http://h:1?x asks for /?x */
        if (len + slash > MAX_PATH) usage_fail("the url's path is longer than 1024 characters");
        t->path[0] = '/';
        memcpy(t->path + slash, after, len);
        for (const char *c = t->path; *c; c++)
            if ((unsigned char)*c <= ' ' || *c == 0x7f) usage_fail("the url's path holds a space or control character");
    }
}

/* "3", "0.5", "1.25" -> milliseconds (no floating point: it would triple the binary's size). */
static long parse_timeout(const char *s) {
    long ms = 0, scale = 1000;
    const char *c = s;
    for (; *c >= '0' && *c <= '9' && ms <= 3600000L; c++) ms = ms * 10 + (*c - '0') * 1000;
    if (*c == '.' && c != s) {
        for (c++; *c >= '0' && *c <= '9'; c++) {
            scale /= 10;
            ms += (*c - '0') * scale;
        }
    }
    if (c == s || *c || ms < 1 || ms > 3600000L) usage_fail("--timeout must be a number of seconds, above 0 and at most 3600");
    return ms;
}

static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Copies the reason phrase, printable ASCII only, at most max-1 characters. */
static void clean_reason(const char *src, size_t n, char *dst, size_t max) {
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < max; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[j] = '\0';
}

int main(int argc, char **argv) {
    const char *url = NULL;
    long timeout_ms = 3000;
    struct target t;
    struct timespec t0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0) {
            if (++i >= argc) usage_fail("--timeout needs a value");
            timeout_ms = parse_timeout(argv[i]);
        } else if (strncmp(argv[i], "--timeout=", 10) == 0) {
            timeout_ms = parse_timeout(argv[i] + 10);
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            puts("usage: opsbook-probe http://127.0.0.1:<port>/<path> [--timeout SECONDS]\n"
                 "One HTTP/1.0 GET; exit 0 on a 2xx status, 1 otherwise. Prints one line, never the body.");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            usage_fail("unknown option");
        } else if (url) {
            usage_fail("more than one url");
        } else {
            url = argv[i];
        }
    }
    if (!url) usage_fail("missing url");
    parse_url(url, &t);

    /* A server that closes early must give EPIPE, not kill us silently. */
    signal(SIGPIPE, SIG_IGN);
    char secs[24];
    if (timeout_ms % 1000) snprintf(secs, sizeof secs, "%ld.%03ld", timeout_ms / 1000, timeout_ms % 1000);
    else snprintf(secs, sizeof secs, "%ld", timeout_ms / 1000);
    snprintf(timeout_msg, sizeof timeout_msg, "opsbook-probe: no answer within %s s from %s:%u%s (", secs, t.host, t.port, t.path);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = timeout_ms / 1000;
    it.it_value.tv_usec = (timeout_ms % 1000) * 1000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    setitimer(ITIMER_REAL, &it, NULL);

    stage = "connecting";
    int fd = socket(t.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        say("cannot open a socket: %s", strerror(errno));
        return 1;
    }
    int rc;
    do rc = connect(fd, (struct sockaddr *)&t.addr, t.addrlen); while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        say("cannot connect to %s:%u: %s", t.host, t.port, strerror(errno));
        return 1;
    }

    stage = "sending the request";
    char req[MAX_PATH + 256];
    int len = snprintf(req, sizeof req,
                       "GET %s HTTP/1.0\r\nHost: %s:%u\r\nUser-Agent: opsbook-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                       t.path, t.host, t.port);
    if (len < 0 || (size_t)len >= sizeof req || write_all(fd, req, (size_t)len) < 0) {
        say("cannot send the request to %s:%u: %s", t.host, t.port, strerror(errno));
        return 1;
    }

    /* Only the status line is read: headers and body are never looked at, nor printed. */
    stage = "waiting for the status line";
    char buf[MAX_STATUS_LINE];
    size_t got = 0;
    char *eol = NULL;
    while (got < sizeof buf) {
        ssize_t r = read(fd, buf + got, sizeof buf - got);
        if (r < 0) {
            if (errno == EINTR) continue;
            say("reading from %s:%u failed: %s", t.host, t.port, strerror(errno));
            return 1;
        }
        if (r == 0) break;
        eol = memchr(buf + got, '\n', (size_t)r);
        got += (size_t)r;
        if (eol) break;
    }
    setitimer(ITIMER_REAL, &(struct itimerval){0}, NULL);
    close(fd);
    long ms = elapsed_ms(&t0);

    if (got == 0) {
        say("%s:%u closed the connection without answering (%ld ms)", t.host, t.port, ms);
        return 1;
    }
    if (!eol) {
        say("not an HTTP response from %s:%u (%zu bytes without a complete status line)", t.host, t.port, got);
        return 1;
    }
    size_t line = (size_t)(eol - buf);
    if (line > 0 && buf[line - 1] == '\r') line--;
    /* HTTP/d.d SP ddd [SP reason] */
    if (line < 12 || memcmp(buf, "HTTP/", 5) != 0 || buf[5] < '0' || buf[5] > '9' || buf[6] != '.' || buf[7] < '0' ||
        buf[7] > '9' || buf[8] != ' ' || buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' ||
        buf[11] > '9' || (line > 12 && buf[12] != ' ')) {
        say("not an HTTP response from %s:%u (malformed status line, %zu bytes)", t.host, t.port, line);
        return 1;
    }
    int status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    char reason[48];
    clean_reason(buf + 13, line > 13 ? line - 13 : 0, reason, sizeof reason);
    int ok = status >= 200 && status < 300;
    say("%s: HTTP %d%s%s from %s:%u%s in %ld ms%s", ok ? "healthy" : "unhealthy", status, reason[0] ? " " : "", reason, t.host,
        t.port, t.path, ms, status >= 300 && status < 400 ? " (redirects are not followed)" : "");
    return ok ? 0 : 1;
}
