/* The VM lab's guest program: /init in a Debian kernel under QEMU (see pagemove/lab/vm/lab.py).
 *
 * It reads /plan, written by the host, one instruction per line (numbers in hex):
 *   R base size                  reserve [base, base+size) PROT_NONE (MAP_FIXED_NOREPLACE)
 *   H lo hi                      a hole: unmapped in the reservation, where scenarios map and move
 *   T top                        check that the page below `top` (TASK_SIZE) can be mapped and `top` cannot
 *   E name vma len old oldlen newlen new   an errno probe: map [vma, vma+len), mremap(old, oldlen,
 *                                newlen, MAYMOVE|FIXED, new), report errno, unmap
 *   S id start len populated huge old new movelen reps n [bstart blen prot]*n
 *                                a scenario: map the source [start, start+len), write the first
 *                                `populated` bytes page by page, map n blockers (prot 0 none, 1 read),
 *                                then mremap(old, movelen, movelen, MAYMOVE|FIXED, new) `reps` times
 * and answers with framed lines (common.h): hello, geometry, one "errno" per probe, one "move" per
 * scenario, the kernel's warnings, done. Each move checks its data at the new place and that the old range
 * is gone; the first of its repetitions also records VmPTE before and after, AnonHugePages, and the trace
 * (tlb:tlb_flush on x86, kprobes everywhere) between two markers.
 */
#include "common.h"

#include <sys/syscall.h>

static long page;
static unsigned long holes[8][2];
static int nholes;
static const char *KPROBES[] = {"move_huge_pmd", "__split_huge_pmd", "__pte_alloc", "__pmd_alloc", "__pud_alloc",
                                "free_pgd_range", NULL};

static unsigned long pattern(unsigned long addr) { return addr ^ 0x5a5a5a5aUL; }

static void *map_at(unsigned long addr, unsigned long len, int prot, int fixed) {
    return mmap((void *)addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                (fixed ? MAP_FIXED : MAP_FIXED_NOREPLACE), -1, 0);
}

static long do_mremap(unsigned long old, unsigned long oldlen, unsigned long newlen, unsigned long new) {
    long r = syscall(SYS_mremap, old, oldlen, newlen, MREMAP_MAYMOVE | MREMAP_FIXED, new);
    return r;
}

/* AnonHugePages (kB) of the VMAs overlapping [lo, hi). */
static long huge_kb(unsigned long lo, unsigned long hi) {
    char *s = pm_read_file("/proc/self/smaps", NULL);
    long total = 0;
    int inside = 0;
    for (char *line = s; line && *line;) {
        char *end = strchr(line, '\n');
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && line[0] != 'A') inside = a < hi && b > lo;
        else if (inside && !strncmp(line, "AnonHugePages:", 14)) total += strtol(line + 14, NULL, 10);
        line = end ? end + 1 : line + strlen(line);
    }
    free(s);
    return total;
}

static void report_geometry(void) {
    /* Debian's 6.1 boots with THP "never": the lab asks for madvise, as the host lab's THP scenarios do. */
    pm_write_file("/sys/kernel/mm/transparent_hugepage/enabled", "madvise", 0);
    char *thp = pm_read_file("/sys/kernel/mm/transparent_hugepage/enabled", NULL);
    char *pmd = pm_read_file("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", NULL);
    pm_begin("geometry");
    pm_int("page_size", page);
    pm_int("hpage_pmd_size", pmd ? atol(pmd) : -1);
    pm_str("thp", thp ? thp : "");
    pm_end();
    free(thp);
    free(pmd);
}

/* Can a page at [addr, addr+page) be a user mapping? (EEXIST: something is there already, so yes.) */
static int mappable(unsigned long addr) {
    void *p = map_at(addr, page, PROT_NONE, 0);
    if (p != MAP_FAILED) {
        munmap(p, page);
        return (unsigned long)p == addr;
    }
    return errno == EEXIST;
}

static void check_top(unsigned long top) {
    pm_begin("top");
    pm_uint("top", top);
    pm_bool("below_ok", mappable(top - page));
    pm_bool("at_ok", top ? mappable(top) : 0);
    pm_end();
}

static void errno_probe(char *name, unsigned long vma, unsigned long len, unsigned long old,
                        unsigned long oldlen, unsigned long newlen, unsigned long new) {
    void *p = map_at(vma, len, PROT_READ | PROT_WRITE, 0);
    pm_begin("errno");
    pm_str("name", name);
    if (p == MAP_FAILED) {
        pm_int("setup_errno", errno);
    } else {
        long r = do_mremap(old, oldlen, newlen, new);
        pm_int("ret", r == -1 ? -1 : 0);
        pm_int("errno", r == -1 ? errno : 0);
        if (r != -1) munmap((void *)new, newlen);
        munmap((void *)vma, len);
    }
    pm_end();
}

static void clear_holes(void) {
    for (int i = 0; i < nholes; i++) munmap((void *)holes[i][0], holes[i][1] - holes[i][0]);
}

static void scenario(char *rest, int traced) {
    unsigned long id, start, len, populated, huge, old, new, mlen, reps, n, b[8][3];
    int used;
    if (sscanf(rest, "%lx %lx %lx %lx %lx %lx %lx %lx %lx %lx%n", &id, &start, &len, &populated, &huge, &old,
               &new, &mlen, &reps, &n, &used) != 10 || n > 8) {
        pm_error("bad scenario line");
        return;
    }
    rest += used;
    for (unsigned long i = 0; i < n; i++) {
        if (sscanf(rest, " %lx %lx %lx%n", &b[i][0], &b[i][1], &b[i][2], &used) != 3) return;
        rest += used;
    }
    pm_begin("move");
    pm_uint("id", id);
    pm_key("ns");
    pm_put("[", 1);
    int ok = 1, gone = 1, err = 0;
    long vm[3] = {-1, -1, -1}, hkb = -1;
    char *trace = NULL;
    size_t tlen = 0;
    for (unsigned long rep = 0; rep < reps; rep++) {
        clear_holes();
        char *src = map_at(start, len, PROT_READ | PROT_WRITE, 1);
        if (src == MAP_FAILED) { err = errno; break; }
        madvise(src, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
        for (unsigned long a = start; a < start + populated; a += page) *(volatile unsigned long *)a = pattern(a);
        for (unsigned long i = 0; i < n; i++)
            if (map_at(b[i][0], b[i][1], b[i][2] ? PROT_READ : PROT_NONE, 0) == MAP_FAILED) err = errno;
        if (rep == 0 && huge) hkb = huge_kb(start, start + len);
        if (rep == 0) { pm_trace_clear(); vm[0] = pm_vmpte_kb(); pm_trace_mark("begin", id); }
        uint64_t t0 = pm_now_ns();
        long r = do_mremap(old, mlen, mlen, new);
        uint64_t t1 = pm_now_ns();
        if (rep == 0) { pm_trace_mark("end", id); vm[1] = pm_vmpte_kb(); }
        if (r == -1) { err = errno; break; }
        pm_putf("%s%llu", rep ? "," : "", (unsigned long long)(t1 - t0));
        for (unsigned long a = start > old ? start : old; a < old + mlen && a < start + populated; a += page)
            if (*(volatile unsigned long *)(a - old + new) != pattern(a)) ok = 0;
        void *probe = map_at(old, mlen, PROT_NONE, 0); /* maps iff nothing is left in [old, old+mlen) */
        if (probe == MAP_FAILED) gone = 0;
        else munmap(probe, mlen);
        if (rep == 0) {
            for (unsigned long i = 0; i < n; i++) munmap((void *)b[i][0], b[i][1]);
            vm[2] = pm_vmpte_kb();
            if (traced) trace = pm_trace_text(&tlen);
        }
    }
    clear_holes();
    pm_put("]", 1);
    pm_int("errno", err);
    pm_bool("data_ok", ok);
    pm_bool("old_gone", gone);
    pm_key("vmpte_kb");
    pm_putf("[%ld,%ld,%ld]", vm[0], vm[1], vm[2]);
    pm_int("huge_kb", hkb);
    pm_strn("trace", trace ? trace : "", trace ? tlen : 0);
    pm_end();
    free(trace);
}

int main(int argc, char **argv) {
    pm_setup(argc, argv);
    page = sysconf(_SC_PAGESIZE);
    pm_report_hello();
    report_geometry();
    char *kallsyms = pm_read_file("/proc/kallsyms", NULL);
    pm_begin("probes");
    pm_key("kprobes");
    pm_put("[", 1);
    for (int i = 0, first = 1; KPROBES[i]; i++)
        if (kallsyms && pm_kprobe(kallsyms, KPROBES[i])) { pm_putf("%s\"%s\"", first ? "" : ",", KPROBES[i]); first = 0; }
    pm_put("]", 1);
    int traced = pm_trace_setup();
    pm_bool("tlb_flush", traced);
    pm_bool("trace_marker", pm_trace_marker >= 0);
    pm_end();
    free(kallsyms);
    traced = pm_trace_marker >= 0;
    /* Warm up what the measuring reads allocate (musl's heap), so that VmPTE around a move counts the move. */
    free(pm_trace_text(NULL));
    pm_vmpte_kb();
    char *plan = pm_read_file("/plan", NULL);
    for (char *line = plan; line && *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        unsigned long a, b2, c, d, e, f;
        char name[64];
        if (line[0] == 'R' && sscanf(line + 1, "%lx %lx", &a, &b2) == 2) {
            if (map_at(a, b2, PROT_NONE, 0) == MAP_FAILED) pm_error("reserve");
        } else if (line[0] == 'H' && sscanf(line + 1, "%lx %lx", &a, &b2) == 2 && nholes < 8) {
            holes[nholes][0] = a;
            holes[nholes++][1] = b2;
            munmap((void *)a, b2 - a);
        } else if (line[0] == 'T' && sscanf(line + 1, "%lx", &a) == 1) {
            check_top(a);
        } else if (line[0] == 'E' && sscanf(line + 1, "%63s %lx %lx %lx %lx %lx %lx", name, &a, &b2, &c, &d, &e,
                                            &f) == 7) {
            errno_probe(name, a, b2, c, d, e, f);
        } else if (line[0] == 'S') {
            scenario(line + 1, traced);
        }
        line = end ? end + 1 : line + strlen(line);
    }
    pm_report_warnings();
    pm_begin("done");
    pm_end();
    pm_poweroff();
    return 0;
}
