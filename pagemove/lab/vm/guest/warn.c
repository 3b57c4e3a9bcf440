/* warn.c: the seed's WARN, live. PID 1 of a Debian i386 (686-pae) 6.1 guest.
 *
 * As /init (PID 1):  /init NONCE warn LOOPS NARGS ARGSIZE MAX_EXECS   (boot.py puts the nonce first)
 *   mounts proc, sysfs, devtmpfs, tracefs and debugfs; raises RLIMIT_STACK to 64 MiB (execve()
 *   allows arguments up to a quarter of it, at most 6 MiB); lets the console
 *   print KERN_WARNING; defines kprobes (see probes[]) on shift_arg_pages() (the stack's vm_start,
 *   vm_end and the shift), move_page_tables(), free_pgd_range(), and on the rmap lock and the
 *   PTE-table kmap that move_page_tables() itself calls; then runs LOOPS exec loops side by side,
 *   each with a tracefs instance of its own that follows only that loop's children (set_event_pid).
 *   Each loop vfork()s; the child adds itself to the instance's pids and execve()s /init with NARGS
 *   arguments of ARGSIZE - 1 bytes, so execve() builds a stack of about NARGS * ARGSIZE bytes under
 *   STACK_TOP and setup_arg_pages() shifts it down by a random number of pages. After the child
 *   exits, the loop prints one frame with what the instance recorded for that exec (tlb:tlb_flush,
 *   the kprobes) and the child's [stack] line. The loops stop at MAX_EXECS in all, or as soon as the
 *   kernel log (klogctl, read as syzbot reads the console) has a new "WARNING: CPU:"; that loop prints
 *   the log's WARNING block in a frame. PID 1 then powers off.
 * As the child:      /init @child ARGS...   writes its /proc/self/maps [stack] line to fd 3, exits.
 *
 * Frames: common.h's, one line each: "@@pagemove:NONCE CRC32 {json}" (console.py).
 */
#include "common.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

static volatile int *stop; /* shared by the loops: set by the one whose exec printed the WARNING */

static int put(const char *path, const char *value, int flags)
{
	int fd = open(path, O_WRONLY | flags);
	if (fd < 0)
		return -errno;
	int rc = write(fd, value, strlen(value)) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static long slurp(const char *path, char *buf, long size)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	long n = 0, r;
	while (n < size - 1 && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += r;
	close(fd);
	buf[n] = 0;
	return n;
}

/* Everything a non-blocking trace_pipe holds now. */
static void drain(int fd, char *buf, long size)
{
	long n = 0, r;
	while (n < size - 1 && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += r;
	buf[n] = 0;
}

static long now_us(void)
{
	return (long)(pm_now_ns() / 1000);
}

/* New kernel log text since the last call (SYSLOG_ACTION_SIZE_UNREAD, then READ: consumes it). */
static long klog_new(char *buf, long size)
{
	long n = 0;
	while (klogctl(9 /* SIZE_UNREAD */, NULL, 0) > 0 && n < size - 1) {
		int r = klogctl(2 /* READ */, buf + n, size - 1 - n);
		if (r <= 0)
			break;
		n += r;
	}
	buf[n] = 0;
	return n;
}

/* The kernel log from its WARNING line to "---[ end trace", in a frame, as syzbot cuts it. */
static void report_warning(const char *log)
{
	static char block[1 << 16];
	const char *start = strstr(log, "WARNING: CPU:");
	if (!start)
		return;
	while (start > log && start[-1] != '\n')
		start--;
	snprintf(block, sizeof block, "%s", start);
	char *end = strstr(block, "---[ end trace");
	if (end && (end = strchr(end, '\n')))
		end[1] = 0;
	pm_begin("klog");
	pm_str("text", block);
	pm_end();
}

static unsigned tainted(void)
{
	char buf[32];
	return slurp("/proc/sys/kernel/tainted", buf, sizeof buf) > 0 ? strtoul(buf, NULL, 10) : 0;
}

/* The child: report [stack] from /proc/self/maps on fd 3, then leave. */
static int child(void)
{
	static char maps[16384];
	slurp("/proc/self/maps", maps, sizeof maps);
	char *line = strstr(maps, "[stack]");
	if (line) {
		while (line > maps && line[-1] != '\n')
			line--;
		char range[40];
		int n = 0;
		while (line[n] && line[n] != ' ' && n < 39) {
			range[n] = line[n];
			n++;
		}
		range[n] = 0;
		if (write(3, range, n) < 0)
			_exit(4);
	}
	_exit(0);
}

/* Where the kprobe on a function sits, from debugfs's kprobes/list (reading /proc/kallsyms takes
 * minutes under TCG); 0 if not listed. */
static unsigned long probed_address(const char *function)
{
	static char list[1 << 16];
	char want[128];
	snprintf(want, sizeof want, " %s+0x0 ", function);
	if (slurp("/sys/kernel/debug/kprobes/list", list, sizeof list) <= 0)
		return 0;
	char *hit = strstr(list, want);
	if (!hit)
		return 0;
	while (hit > list && hit[-1] != '\n')
		hit--;
	return strtoul(hit, NULL, 16);
}

/* The probes: name, definition. A probe the kernel refuses is left out and reported. */
static const char *probes[][2] = {
	{"shift", "p:pagemove/shift shift_arg_pages start=+0($arg1):x32 end=+4($arg1):x32 shift=$arg2:x32"},
	{"mpt", "p:pagemove/mpt move_page_tables old=$arg2:x32 new=$arg4:x32 len=$arg5:x32"},
	{"free", "p:pagemove/free free_pgd_range addr=$arg2:x32 end=$arg3:x32 floor=$arg4:x32 ceiling=$arg5:x32"},
	{"kmap", "p:pagemove/kmap __kmap_local_page_prot caller=$stack0:symbol"},
	{"lock", "p:pagemove/lock down_write caller=$stack0:symbol"},
};
/* No kretprobes: they swap return addresses for a trampoline, and the WARN's call trace would show the
 * trampoline where shift_arg_pages and setup_arg_pages are. The loop ends where free_pgd_range() starts,
 * and the flushes right after it are its mmu_gather's. */
#define NPROBES (int)(sizeof probes / sizeof *probes)
static int probe_ok[NPROBES];

/* Defines the probes; returns a JSON list of the ones refused, with their errno. */
static int setup_tracing(int loops, char *refused, long size)
{
	long o = 0;
	refused[0] = 0;
	put(PM_TRACEFS "/kprobe_events", "", O_TRUNC);
	for (int p = 0; p < NPROBES; p++) {
		int rc = put(PM_TRACEFS "/kprobe_events", probes[p][1], O_APPEND);
		probe_ok[p] = rc == 0;
		if (rc)
			o += snprintf(refused + o, size - o, "%s\"%s\":%d", o ? "," : "", probes[p][0], -rc);
	}
	/* kmap and lock matter only when move_page_tables() itself calls them (its inlined move_ptes() maps
	 * the PTE tables; its inlined take_rmap_locks() locks before a PMD move): filter on the caller. */
	unsigned long lo = probed_address("move_page_tables");
	char filter[128] = "";
	if (lo) /* move_page_tables is 0xe20 bytes long in 6.1.0-50-686-pae; the host checks the symbol itself */
		snprintf(filter, sizeof filter, "caller >= 0x%lx && caller < 0x%lx", lo, lo + 0x4000);
	else
		o += snprintf(refused + o, size - o, "%s\"move_page_tables in kallsyms\":2", o ? "," : "");
	for (int i = 0; i < loops; i++) {
		char dir[128], path[192];
		snprintf(dir, sizeof dir, PM_TRACEFS "/instances/pagemove%d", i);
		if (mkdir(dir, 0755) && errno != EEXIST)
			return -errno;
		snprintf(path, sizeof path, "%s/set_event_pid", dir);
		int rc = put(path, "1", O_TRUNC); /* PID 1 only waits: nothing is traced until a child adds itself */
		snprintf(path, sizeof path, "%s/events/tlb/tlb_flush/enable", dir);
		rc = rc ? rc : put(path, "1", 0);
		snprintf(path, sizeof path, "%s/events/tlb/tlb_flush/filter", dir);
		if (rc || (rc = put(path, "reason != 0", 0))) /* leave out the many "flush on task switch" */
			return rc;
		for (int p = 0; p < NPROBES; p++) {
			snprintf(path, sizeof path, "%s/events/pagemove/%s/enable", dir, probes[p][0]);
			if (probe_ok[p] && (rc = put(path, "1", 0)))
				return rc;
			snprintf(path, sizeof path, "%s/events/pagemove/%s/filter", dir, probes[p][0]);
			if (probe_ok[p] && strstr(probes[p][1], "caller=") && (rc = put(path, filter[0] ? filter : "0", 0)))
				return rc;
		}
	}
	return 0;
}

/* One exec's trace, reduced to tokens: "F pages reason" for tlb:tlb_flush, "<probe> <its fields>" for
 * a probe (e.g. "shift start=0xbf9ff000 end=0xc0000000 shift=0x200000"). */
static void trace_tokens(const char *trace, char *out, long size)
{
	long o = 0;
	out[0] = 0;
	for (const char *line = trace; *line; ) {
		const char *end = strchr(line, '\n');
		long len = end ? end - line : (long)strlen(line);
		char l[512];
		snprintf(l, sizeof l, "%.*s", (int)(len < 511 ? len : 511), line);
		line += len + (end ? 1 : 0);
		if (l[0] == '#')
			continue;
		char tok[256] = "";
		char *p;
		long pages;
		int reason;
		if ((p = strstr(l, " tlb_flush: pages:")) && sscanf(p, " tlb_flush: pages:%ld", &pages) == 1 &&
		    (p = strrchr(l, '(')) && sscanf(p, "(%d)", &reason) == 1)
			snprintf(tok, sizeof tok, "F %ld %d", pages, reason);
		for (int q = 0; q < NPROBES && !tok[0]; q++) {
			char name[32];
			snprintf(name, sizeof name, " %s: (", probes[q][0]);
			if ((p = strstr(l, name)) && (p = strchr(p + strlen(name), ')'))) {
				p += 1 + (p[1] == ' ');
				if (!strncmp(p, "caller=move_page_tables+", 24)) /* "kmap", "lock": called from the move */
					snprintf(tok, sizeof tok, "%s", probes[q][0]);
				else
					snprintf(tok, sizeof tok, "%s%s%s", probes[q][0], *p ? " " : "", p);
			}
		}
		if (tok[0] && o < size - (long)strlen(tok) - 8)
			o += snprintf(out + o, size - o, "%s\"%s\"", o ? "," : "", tok);
	}
}

static void exec_loop(int id, char **argv, int max_execs)
{
	char dir[128], pidfile[192], pipefile[192];
	snprintf(dir, sizeof dir, PM_TRACEFS "/instances/pagemove%d", id);
	snprintf(pidfile, sizeof pidfile, "%s/set_event_pid", dir);
	snprintf(pipefile, sizeof pipefile, "%s/trace_pipe", dir);
	int tp = open(pipefile, O_RDONLY | O_NONBLOCK); /* consuming: each read takes what was recorded */
	static char trace[1 << 20], tokens[60000];
	static char log[1 << 18];
	for (int n = 1; n <= max_execs && !*stop; n++) {
		int fds[2];
		if (pipe(fds))
			break;
		long t0 = now_us();
		drain(tp, trace, sizeof trace); /* whatever came after the last exec's waitpid() */
		pid_t pid = vfork();
		if (pid == 0) {
			char me[32];
			snprintf(me, sizeof me, "%d", getpid());
			/* Appended, never truncated: opening set_event_pid with O_TRUNC empties the list, and an
			 * empty list traces every process, the other loop's child too. */
			put(pidfile, me, O_APPEND);
			dup2(fds[1], 3);
			execve("/init", argv, (char *[]){NULL});
			_exit(127);
		}
		close(fds[1]);
		char range[64] = "";
		long got = read(fds[0], range, sizeof range - 1);
		range[got > 0 ? got : 0] = 0;
		close(fds[0]);
		int status = 0;
		waitpid(pid, &status, 0);
		long t1 = now_us();
		drain(tp, trace, sizeof trace);
		trace_tokens(trace, tokens, sizeof tokens);
		char ev[sizeof tokens + 2];
		snprintf(ev, sizeof ev, "[%s]", tokens);
		pm_begin("exec");
		pm_int("loop", id);
		pm_int("n", n);
		pm_int("pid", pid);
		pm_int("status", status);
		pm_str("stack", range);
		pm_raw("ev", ev);
		pm_uint("tainted", tainted());
		pm_int("exec_us", t1 - t0);
		pm_int("trace_us", now_us() - t1);
		pm_end();
		if (klog_new(log, sizeof log) && strstr(log, "WARNING: CPU:")) {
			*stop = 1;
			/* The kernel prints the registers and the call trace after the line: read on until the
			 * report's "---[ end trace" (at most 5 s: a loaded host under TCG took longer than 200 ms). */
			for (int i = 0; i < 50 && !strstr(strstr(log, "WARNING: CPU:"), "---[ end trace"); i++) {
				usleep(100000);
				long n = strlen(log);
				klog_new(log + n, sizeof log - n);
			}
			report_warning(log);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "@child"))
		return child();
	/* PID 1: /init NONCE warn LOOPS NARGS ARGSIZE MAX_EXECS */
	pm_setup(argc, argv);
	int loops = 2, nargs = 33, argsize = 131072, max_execs = 8192;
	if (argc > 6 && !strcmp(argv[2], "warn")) {
		loops = atoi(argv[3]);
		nargs = atoi(argv[4]);
		argsize = atoi(argv[5]);
		max_execs = atoi(argv[6]);
	}
	klogctl(8 /* SYSLOG_ACTION_CONSOLE_LEVEL */, NULL, 5); /* the kernel itself prints KERN_WARNING */
	struct rlimit rl = {64 << 20, 64 << 20};
	setrlimit(RLIMIT_STACK, &rl);
	struct utsname u;
	uname(&u);
	char refused[512];
	int rc = setup_tracing(loops, refused, sizeof refused);
	char probes_json[520];
	snprintf(probes_json, sizeof probes_json, "{%s}", refused);
	pm_begin("start");
	pm_str("release", u.release);
	pm_int("loops", loops);
	pm_int("nargs", nargs);
	pm_int("argsize", argsize);
	pm_int("max_execs", max_execs);
	pm_int("tracing", rc);
	pm_raw("refused_probes", probes_json);
	pm_int("page_size", sysconf(_SC_PAGESIZE));
	pm_end();
	stop = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	static char bootlog[1 << 20];
	klog_new(bootlog, sizeof bootlog); /* what boot printed is not ours (e.g. a CPU model's WARNING) */
	pm_begin("boot");
	pm_bool("warnings_before", strstr(bootlog, "WARNING: CPU:") != NULL);
	pm_uint("tainted", tainted());
	pm_end();
	if (rc == 0) {
		char **args = calloc(nargs + 3, sizeof *args);
		args[0] = "/init";
		args[1] = "@child";
		for (int i = 0; i < nargs; i++) {
			args[i + 2] = malloc(argsize);
			memset(args[i + 2], 'a' + i % 26, argsize - 1);
			args[i + 2][argsize - 1] = 0;
		}
		for (int i = 0; i < loops; i++)
			if (fork() == 0) {
				exec_loop(i, args, (max_execs + loops - 1 - i) / loops);
				_exit(0);
			}
		while (wait(NULL) > 0 || errno == EINTR)
			;
	}
	pm_begin("end");
	pm_uint("tainted", tainted());
	pm_bool("warned", *stop);
	pm_end();
	pm_poweroff();
	return 0;
}
