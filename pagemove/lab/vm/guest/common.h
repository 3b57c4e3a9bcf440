/* Helpers shared by the VM lab's guest programs (lab.c, warn.c). Each runs as /init, PID 1, in a
 * Debian kernel under QEMU, built static by `zig cc` (toolchain.py).
 *
 * Output: framed lines "@@pagemove:<nonce> <crc32> <json>" on the console (console.py parses them);
 * build a frame with pm_begin(), pm_int()/pm_str()/pm_bool()/pm_raw(), then pm_end().
 */
#ifndef PAGEMOVE_COMMON_H
#define PAGEMOVE_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define PM_TRACEFS "/sys/kernel/tracing"

static const char *pm_nonce = "none";
static char *pm_buf;
static size_t pm_len, pm_cap;
static int pm_first;

static inline void pm_put(const char *s, size_t n) {
    if (pm_len + n + 1 > pm_cap) {
        pm_cap = (pm_len + n + 1) * 2;
        pm_buf = realloc(pm_buf, pm_cap);
        if (!pm_buf) _exit(1);
    }
    memcpy(pm_buf + pm_len, s, n);
    pm_len += n;
    pm_buf[pm_len] = 0;
}

static inline void pm_putf(const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    pm_put(tmp, n < (int)sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static inline uint32_t pm_crc32(const char *s, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= (unsigned char)s[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & -(c & 1));
    }
    return ~c;
}

static inline void pm_key(const char *key) {
    pm_put(pm_first ? "\"" : ",\"", pm_first ? 1 : 2);
    pm_first = 0;
    pm_put(key, strlen(key));
    pm_put("\":", 2);
}

/* Start a frame: {"type": type, ... */
static inline void pm_begin(const char *type) {
    pm_len = 0;
    pm_first = 1;
    pm_put("{", 1);
    pm_key("type");
    pm_putf("\"%s\"", type);
}

static inline void pm_int(const char *key, long long v) { pm_key(key); pm_putf("%lld", v); }
static inline void pm_uint(const char *key, unsigned long long v) { pm_key(key); pm_putf("%llu", v); }
static inline void pm_bool(const char *key, int v) { pm_key(key); pm_put(v ? "true" : "false", v ? 4 : 5); }
static inline void pm_raw(const char *key, const char *json) { pm_key(key); pm_put(json, strlen(json)); }

/* A JSON string, escaped (control characters become \u00XX). */
static inline void pm_strn(const char *key, const char *s, size_t n) {
    pm_key(key);
    pm_put("\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = s[i];
        if (ch == '"' || ch == '\\') { pm_put("\\", 1); pm_put((char *)&ch, 1); }
        else if (ch < 0x20 || ch >= 0x7f) pm_putf("\\u%04x", ch);
        else pm_put((char *)&ch, 1);
    }
    pm_put("\"", 1);
}

static inline void pm_str(const char *key, const char *s) { pm_strn(key, s, strlen(s)); }

/* Finish the frame and print it as one line, in one write(). */
static inline void pm_end(void) {
    pm_put("}", 1);
    char *json = strdup(pm_buf);
    size_t n = pm_len;
    pm_len = 0;
    pm_putf("\n@@pagemove:%s %08x ", pm_nonce, pm_crc32(json, n));
    pm_put(json, n);
    pm_put("\n", 1);
    free(json);
    size_t off = 0;
    while (off < pm_len) {
        ssize_t w = write(1, pm_buf + off, pm_len - off);
        if (w <= 0) break;
        off += w;
    }
}

/* A one-field frame reporting a problem; the run goes on. */
static inline void pm_error(const char *what) {
    pm_begin("error");
    pm_str("what", what);
    pm_int("errno", errno);
    pm_end();
}

/* stdin/stdout/stderr on the console; proc, sysfs, tracefs (and debugfs) mounted. */
static inline void pm_setup(int argc, char **argv) {
    int fd = open("/dev/console", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0); dup2(fd, 1); dup2(fd, 2);
        if (fd > 2) close(fd);
    }
    if (argc > 1) pm_nonce = argv[1];
    mkdir("/proc", 0755); mkdir("/sys", 0755);
    mount("proc", "/proc", "proc", 0, 0);
    mount("sysfs", "/sys", "sysfs", 0, 0);
    mount("tracefs", PM_TRACEFS, "tracefs", 0, 0);
    mount("debugfs", "/sys/kernel/debug", "debugfs", 0, 0);
}

/* Power off: QEMU (-no-reboot) then exits by itself. */
static inline void pm_poweroff(void) {
    sync();
    reboot(RB_POWER_OFF);
    _exit(0);
}

static inline uint64_t pm_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* The whole of a (proc, sys, trace) file, NUL-terminated, malloc'd; NULL if it cannot be read. */
static inline char *pm_read_file(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    size_t cap = 8192, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 4096 > cap) buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r <= 0) break;
        n += r;
    }
    close(fd);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

static inline int pm_write_file(const char *path, const char *text, int flags) {
    int fd = open(path, O_WRONLY | flags);
    if (fd < 0) return -1;
    ssize_t w = write(fd, text, strlen(text));
    close(fd);
    return w == (ssize_t)strlen(text) ? 0 : -1;
}

/* VmPTE of this process, in kB (-1 if absent). Reads into a static buffer, as the host lab's
 * PageTablePages does: a malloc here could grow musl's heap, and its new page table would count as the move's. */
static inline long pm_vmpte_kb(void) {
    static char status[16384];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, status, sizeof status - 1);
    close(fd);
    status[n > 0 ? n : 0] = 0;
    char *p = strstr(status, "VmPTE:");
    return p ? strtol(p + 6, NULL, 10) : -1;
}

/* ---- tracefs: tlb:tlb_flush (x86) and kprobes, for this process only -------------------------------- */

static int pm_trace_marker = -1;

/* Trace only this pid; 1 if the tlb:tlb_flush event could be enabled. */
static inline int pm_trace_setup(void) {
    char pid[32];
    snprintf(pid, sizeof pid, "%d", getpid());
    pm_write_file(PM_TRACEFS "/tracing_on", "0", 0);
    pm_write_file(PM_TRACEFS "/set_event_pid", pid, O_TRUNC);
    pm_write_file(PM_TRACEFS "/buffer_size_kb", "4096", 0);
    int tlb = pm_write_file(PM_TRACEFS "/events/tlb/tlb_flush/enable", "1", 0) == 0;
    pm_trace_marker = open(PM_TRACEFS "/trace_marker", O_WRONLY);
    pm_write_file(PM_TRACEFS "/tracing_on", "1", 0);
    return tlb;
}

/* Is `fn` a kernel function the guest can probe (a text symbol in /proc/kallsyms)? */
static inline int pm_kallsyms_has(const char *kallsyms, const char *fn) {
    size_t n = strlen(fn);
    for (const char *p = kallsyms; (p = strstr(p, fn)); p += n) {
        if (p >= kallsyms + 3 && p[-1] == ' ' && (p[-2] == 't' || p[-2] == 'T') && p[-3] == ' ' &&
            (p[n] == '\n' || p[n] == '\t' || p[n] == 0))
            return 1;
    }
    return 0;
}

/* Add and enable a kprobe event pagemove/<fn>; 1 on success. Call before pm_trace_setup(). */
static inline int pm_kprobe(const char *kallsyms, const char *fn) {
    char def[160], path[200];
    if (!pm_kallsyms_has(kallsyms, fn)) return 0;
    snprintf(def, sizeof def, "p:pagemove/%s %s\n", fn, fn);
    if (pm_write_file(PM_TRACEFS "/kprobe_events", def, O_APPEND) != 0) return 0;
    snprintf(path, sizeof path, PM_TRACEFS "/events/pagemove/%s/enable", fn);
    return pm_write_file(path, "1", 0) == 0;
}

static inline void pm_trace_clear(void) { pm_write_file(PM_TRACEFS "/trace", "", O_TRUNC); }

/* A marker line in the trace ("pagemove-lab begin 3"), as the host lab's observe.py reads them. */
static inline void pm_trace_mark(const char *what, int tag) {
    char line[64];
    int n = snprintf(line, sizeof line, "pagemove-lab %s %d\n", what, tag);
    if (pm_trace_marker >= 0 && write(pm_trace_marker, line, n) != n) pm_error("trace_marker");
}

/* The trace buffer's event lines (comments dropped), malloc'd. */
static inline char *pm_trace_text(size_t *len) {
    size_t n = 0;
    char *all = pm_read_file(PM_TRACEFS "/trace", &n);
    if (!all) return NULL;
    char *out = malloc(n + 1), *o = out;
    for (char *line = all; *line;) {
        char *end = strchr(line, '\n');
        size_t l = end ? (size_t)(end - line + 1) : strlen(line);
        if (line[0] != '#') { memcpy(o, line, l); o += l; }
        line += l;
    }
    *o = 0;
    free(all);
    if (len) *len = o - out;
    return out;
}

/* The kernel log from its first "cut here" (a WARNING's start) on, as a frame {"type":"warnings"}. */
static inline void pm_report_warnings(void) {
    int size = klogctl(10, NULL, 0); /* SYSLOG_ACTION_SIZE_BUFFER */
    if (size <= 0) size = 1 << 17;
    char *log = malloc(size + 1);
    int n = klogctl(3, log, size); /* SYSLOG_ACTION_READ_ALL */
    if (n < 0) n = 0;
    log[n] = 0;
    char *start = strstr(log, "cut here");
    pm_begin("warnings");
    pm_strn("text", start ? start : "", start ? strlen(start) : 0);
    pm_end();
    free(log);
}

/* Who we are: the kernel release, machine and page size. */
static inline void pm_report_hello(void) {
    struct utsname u;
    uname(&u);
    pm_begin("hello");
    pm_str("release", u.release);
    pm_str("machine", u.machine);
    pm_int("page_size", sysconf(_SC_PAGESIZE));
    pm_int("pointer_bits", 8 * (int)sizeof(void *));
    pm_end();
}

#endif
