"""The VM lab (pagemove.lab.vm): catalogue, fetch's apt configuration, the initramfs writer, the console
parser and the CLI need no QEMU; the tests marked `vm` boot Debian's kernels under TCG and skip, with the
reason, where QEMU, the compiler or a fetched kernel is missing (.ci/run fetches BOOTED first)."""

from __future__ import annotations

import json
import shutil
import subprocess
import zlib

import pytest

from pagemove.__main__ import main
from pagemove.geometry import Geometry
from pagemove.lab.vm import boot, catalogue, console, fetch, initramfs, lab, toolchain

BOOTED = ("debian-6.1-amd64", "debian-6.1-i386", "debian-6.12-arm64-16k")  # keep in step with .ci/run


# ---- catalogue ---------------------------------------------------------------------------------------------


def test_the_catalogue_has_the_six_kernels_of_the_issue_each_pinned_to_one_package_version():
    assert set(catalogue.KERNELS) == {"debian-5.10-amd64", "debian-6.1-amd64", "debian-6.1-i386",
                                      "debian-6.12-amd64", "debian-6.12-arm64", "debian-6.12-arm64-16k"}
    k = catalogue.get("debian-6.1-i386")
    assert k.apt_spec == "linux-image-6.1.0-57-686-pae:i386=6.1.192-3"
    assert k.vmlinuz_path == "./boot/vmlinuz-6.1.0-57-686-pae"
    assert (k.qemu, k.console, k.geometry, k.kernel_version) == ("qemu-system-i386", "ttyS0", "i386_pae", "6.1")
    arm = catalogue.get("debian-6.12-arm64-16k")
    assert (arm.qemu, arm.console, arm.geometry) == ("qemu-system-aarch64", "ttyAMA0", "arm64_16k")


@pytest.mark.parametrize("name", sorted(catalogue.KERNELS))
def test_every_catalogued_kernel_has_the_engine_s_geometry(name):
    """The lab judges each kernel with the Geometry the catalogue names: it must exist, with the page size and
    table levels the kernel is built for (the build configuration itself is checked against fetched packages)."""
    k = catalogue.get(name)
    geo = lab.geometry_for(k)
    assert geo.name == k.geometry
    # a 5-level build runs with 4 levels on a CPU (or QEMU model) without LA57: the engine models the 4 it uses
    assert geo.levels <= k.pgtable_levels


def test_an_unknown_kernel_name_is_a_value_error_listing_the_names():
    with pytest.raises(ValueError, match="unknown VM kernel 'debian-9'.*debian-6.1-amd64"):
        catalogue.get("debian-9")


# ---- fetch: the machine's sources and the private apt configuration --------------------------------------

DEB822 = """\
Types: deb
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.invalid/debian
Suites: bookworm

Types: deb
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb822_and_one_line_sources_are_read_and_the_mirror_is_chosen_by_the_kind_of_suite():
    sources = fetch.parse_deb822(DEB822) + fetch.parse_one_line(
        "# a comment\ndeb [arch=amd64 signed-by=/k.gpg] http://other.invalid/debian trixie main\n")
    assert [s.uri for s in sources] == ["http://mirror.invalid/debian", "http://mirror.invalid/debian-security",
                                        "http://other.invalid/debian"]
    assert fetch.sources_list("bullseye", sources) == (
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.invalid/debian bullseye main\n")
    assert fetch.sources_list("bookworm-security", sources) == (
        "deb http://mirror.invalid/debian-security bookworm-security main\n")
    with pytest.raises(ValueError, match="no mirror for a Debian security suite"):
        fetch.mirror_for("bookworm-security", fetch.parse_deb822(DEB822.split("\n\n")[0]))


def test_apt_is_pointed_at_private_state_so_the_systems_apt_setup_is_untouched(tmp_path, monkeypatch):
    opts = fetch.apt_options(tmp_path, "i386")
    values = dict(o.split("=", 1) for o in opts[1::2])
    assert values["Dir::Etc::SourceParts"] == "-"
    for key in ("Dir::Etc::SourceList", "Dir::State", "Dir::State::status", "Dir::Cache"):
        assert values[key].startswith(str(tmp_path))
    assert values["APT::Architectures::"] == "i386"
    monkeypatch.setenv("PAGEMOVE_VM_CACHE", str(tmp_path / "c"))
    assert fetch.cache_dir() == tmp_path / "c"
    assert fetch.vmlinuz(catalogue.get("debian-6.1-amd64")) is None


# ---- initramfs -------------------------------------------------------------------------------------------------


def test_the_newc_writer_round_trips_and_pads_every_member_to_four_bytes():
    files = {"init": b"\x7fELF" + bytes(range(7)), "plan": b"S 0 1\n", "etc/deep/x": b""}
    archive = initramfs.newc_archive(files)
    members = {e.name: e for e in initramfs.read_newc(archive)}
    assert {n: members[n].data for n in files} == files
    assert members["init"].mode == 0o100755 and members["plan"].mode == 0o100644
    assert members["dev/console"].rdev == (5, 1) and {"etc", "etc/deep", "proc", "sys"} <= set(members)
    raw = __import__("gzip").decompress(archive)
    assert len(raw) % 4 == 0 and raw.count(b"070701") == len(members) + 1


@pytest.mark.skipif(shutil.which("cpio") is None, reason="cpio is not installed (Debian package cpio)")
def test_gnu_cpio_lists_the_archive_as_written():
    archive = initramfs.newc_archive({"init": b"#!", "plan": b"x"})
    listed = subprocess.run(["cpio", "-t", "--quiet"], input=__import__("gzip").decompress(archive),
                            capture_output=True, check=True).stdout.decode().split()
    assert listed == ["dev", "proc", "sys", "dev/console", "init", "plan"]


# ---- console -----------------------------------------------------------------------------------------------------

WARN_TEXT = """\
[   34.1] ------------[ cut here ]------------
[   34.1] WARNING: CPU: 0 PID: 472 at mm/mremap.c:269 move_page_tables+0xe69/0xe90
[   34.1] Modules linked in:
[   34.1] Call Trace:
[   34.1]  <TASK>
[   34.1]  ? __warn+0x7d/0xc0
[   34.1]  shift_arg_pages+0xa1/0x180
[   34.1]  setup_arg_pages+0x1f0/0x330
[   34.1]  load_elf_binary+0x3a5/0x1500
[   34.1]  bprm_execve+0x27e/0x6a0
[   34.1] ---[ end trace 0000000000000000 ]---
[   34.2]  unrelated_function+0x1/0x2
"""


def test_frames_survive_the_console_and_a_kernel_message_spliced_into_one_is_rejected():
    good = console.frame("ab12", {"type": "move", "id": 3, "trace": "a\"b"})
    other = console.frame("ffff", {"type": "move", "id": 4})
    spliced = good[:30] + "[ 1.0] random: crng init done" + good[30:]
    text = f"boot noise\r\n{good}\r\n{spliced}\n{other}\n"
    assert console.parse_frames(text, "ab12") == [{"type": "move", "id": 3, "trace": "a\"b"}]
    assert len(console.parse_frames(text)) == 2 and console.damaged_frames(text) == 1
    assert good.split()[1] == f"{zlib.crc32(good.split(' ', 2)[2].encode()):08x}"


def test_kernel_warnings_give_the_line_and_the_reliable_call_trace_in_order():
    (w,) = console.kernel_warnings("noise\n" + WARN_TEXT)
    assert w.line == "WARNING: CPU: 0 PID: 472 at mm/mremap.c:269 move_page_tables+0xe69/0xe90"
    assert w.where == "mm/mremap.c:269"
    assert w.call_trace == ["shift_arg_pages", "setup_arg_pages", "load_elf_binary", "bprm_execve"]


# ---- the lab's plan and its judging (no QEMU) ---------------------------------------------------------------------


def test_scenarios_scale_to_the_16k_geometry_and_keep_their_shape():
    k = catalogue.get("debian-6.12-arm64-16k")
    geo = Geometry.arm64_16k()
    scs = {s.name: s for s in lab.vm_scenarios(k)}
    c = scs["c 0x1ff000 2M+4K"]  # one page below a PMD boundary, a PMD and a page long
    assert c.old % geo.pmd_size == geo.pmd_size - geo.page_size and c.length == geo.pmd_size + geo.page_size
    assert scs["p pud-aligned 1 page"].length == geo.pud_size
    at, below = scs["guard 0x1e0000 at (128K) free"], scs["guard 0x1e0000 below (124K) free"]
    assert at.length == geo.pmd_size - at.old % geo.pmd_size and below.length == at.length - geo.page_size
    x86 = {s.name: s for s in lab.vm_scenarios(catalogue.get("debian-6.1-amd64"))}
    from pagemove.lab.scenarios import guard_scenarios, size_scenarios
    assert [x86[s.name] for s in (*size_scenarios("2M"), *guard_scenarios())] == [*size_scenarios("2M"),
                                                                                   *guard_scenarios()]
    layout = lab.vm_layout(k, list(scs.values()))
    assert layout.src_anchor % geo.pud_size == 0 and layout.base + layout.size <= geo.task_size


def test_the_i386_layout_fits_below_task_size_and_has_no_pud_move():
    k = catalogue.get("debian-6.1-i386")
    scs = lab.vm_scenarios(k)
    layout = lab.vm_layout(k, scs)
    assert layout.base + layout.size <= 0xC0000000 and not any(s.case == "p" for s in scs)
    assert layout.base >> 30 == (layout.base + layout.size - 1) >> 30  # one PAE PMD table holds it all


def test_the_plan_lists_every_scenario_once():
    k = catalogue.get("debian-6.1-amd64")
    text = lab.plan(k)
    assert sum(line.startswith("S ") for line in text.splitlines()) == len(lab.vm_scenarios(k))
    assert text.splitlines()[0] == "T 7ffffffff000"


def test_flushes_and_kprobes_are_read_between_this_scenarios_markers_only():
    trace = ("init-1 [000] 1.0: tracing_mark_write: pagemove-lab begin 2\n"
             "init-1 [000] 1.1: tlb_flush: pages:1 reason:local mm shootdown (3)\n"
             "init-1 [000] 1.1: tlb_flush: pages:-1 reason:flush on task switch (0)\n"
             "init-1 [000] 1.2: __pte_alloc: (__pte_alloc+0x0/0x140)\n"
             "init-1 [000] 1.3: tracing_mark_write: pagemove-lab end 2\n"
             "init-1 [000] 1.4: tlb_flush: pages:7 reason:local mm shootdown (3)\n")
    assert lab.flushes_between_marks(trace, 2) == [1]
    assert lab.kprobe_hits(trace, 2) == {"__pte_alloc": 1}
    assert lab.flushes_between_marks(trace, 3) == []


def test_every_recorded_difference_between_a_real_kernel_and_the_engine_is_explained():
    rows = lab.rejudge_reference()
    recorded = lab.load_reference()["kernels"]
    assert {r["kernel"] for r in rows} == set(recorded)
    assert "debian-6.1-amd64" in recorded and any(catalogue.get(k).is_arm64 for k in recorded)
    unexplained = [(r["kernel"], r["scenario"], r["compared"]) for r in rows if not r["agrees"] and not r["explained"]]
    assert unexplained == []
    assert all(r["compared"].get("data", True) for r in rows)  # every move kept its data
    matrix = lab.realign_matrix(rows)  # 6.12 realigns case (c), 5.10 and 6.1 do not, and the kernels agree
    assert {k: v["c 0x1ff000 2M+4K"] for k, v in matrix.items()} == {
        k: (catalogue.get(k).kernel_version == "6.12", True) for k in recorded}


def test_a_move_whose_idle_step_changed_vmpte_disagrees_on_idle_tables_and_old_recordings_have_no_idle_step():
    rec = lab.load_reference()["kernels"]["debian-6.1-amd64"]
    k = catalogue.get(rec["kernel"])
    scs = lab.vm_scenarios(k)
    layout, geo = lab.vm_layout(k, scs), lab.geometry_for(k)
    probes = next(f for f in rec["frames"] if f["type"] == "probes")
    frame = next(f for f in rec["frames"] if f["type"] == "move" and f["id"] == 0)
    assert "idle_tables" not in lab.judge_move(k, scs[0], layout, frame, probes, geo)["compared"]
    before = frame["vmpte_kb"][0]
    quiet = lab.judge_move(k, scs[0], layout, {**frame, "idle_kb": [before, before]}, probes, geo)
    assert quiet["agrees"] and quiet["compared"]["idle_tables"] and quiet["observed"]["idle_tables"] == 0
    touched = lab.judge_move(k, scs[0], layout, {**frame, "idle_kb": [before - 4, before]}, probes, geo)
    assert [q for q, ok in touched["compared"].items() if not ok] == ["idle_tables"]
    assert touched["observed"]["idle_tables"] == 1 and not touched["agrees"] and touched["explained"] is None


# ---- command line --------------------------------------------------------------------------------------------------


def test_vm_list_json_names_every_kernel_and_what_is_present(capsys):
    assert main(["vm", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(catalogue.KERNELS)
    assert all(isinstance(r[key], bool) for r in rows for key in ("fetched", "qemu", "compiler"))


def test_an_unknown_kernel_or_a_missing_qemu_is_one_line_and_exit_2(capsys, monkeypatch, tmp_path):
    assert main(["vm", "fetch", "debian-9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown VM kernel 'debian-9'" in err
    monkeypatch.setenv("PATH", str(tmp_path))  # no QEMU, no apt-get on this PATH
    assert main(["vm", "lab", "debian-6.12-arm64"]) == 2
    assert capsys.readouterr().err == ("pagemove vm: error: qemu-system-aarch64 is missing: install the "
                                       "qemu-system-arm package\n")
    assert main(["vm", "fetch", "debian-6.1-amd64"]) == 2
    assert "install the apt package" in capsys.readouterr().err


def test_a_compiler_target_that_does_not_exist_is_named():
    assert "no guest compiler target for 'sparc'" in toolchain.compiler_missing("sparc")


# ---- booting real kernels (TCG) ------------------------------------------------------------------------------------


def _bootable(name: str):
    k = catalogue.get(name)
    why = boot.qemu_missing(k) or toolchain.compiler_missing(k.arch)
    if why is None and fetch.vmlinuz(k) is None:
        why = f"{name} is not fetched (python -m pagemove vm fetch {name}; .ci/run does it)"
    if why:
        pytest.skip(why)
    return k


@pytest.mark.vm
def test_qemu_is_killed_when_the_timeout_passes():
    k = _bootable("debian-6.1-amd64")
    r = boot.boot(k, b"not a program", timeout_s=2.0, accel="tcg")
    assert r.timed_out and r.frames == [] and r.wall_s < 10 and r.returncode is not None


@pytest.mark.vm
def test_auto_acceleration_boots_with_kvm_or_falls_back_to_tcg_and_says_why():
    k = _bootable("debian-6.1-amd64")
    init = toolchain.compile_static(lab.GUEST_SOURCE, k.arch)
    r = boot.boot(k, init, timeout_s=120, accel="auto", extra_files={"plan": b""})
    assert [f["type"] for f in r.frames] == ["hello", "geometry", "probes", "warnings", "done"]
    if r.accel == "tcg" and boot.kvm_usable(k):  # KVM was there but failed: the note says how
        assert r.notes and r.notes[0].startswith("the KVM guest ")


@pytest.mark.vm
@pytest.mark.parametrize("name", BOOTED)
def test_a_real_kernel_runs_the_lab_and_agrees_with_the_engine_or_says_why_not(name):
    k = _bootable(name)
    rec = lab.record(k, timeout_s=600, reps=1)
    assert not rec["timed_out"] and rec["frames"][-1]["type"] == "done"
    rows = lab.rejudge(rec)
    assert len([r for r in rows if r["scenario"] not in ("geometry",) and not r["scenario"].startswith("errno")]) \
        == len(lab.vm_scenarios(k))
    assert all(r["compared"]["data"] for r in rows if "data" in r["compared"])
    assert all("idle_tables" in r["compared"] for r in rows if "tables" in r["compared"])  # the guest's idle step ran
    assert [(r["scenario"], r["compared"]) for r in rows if not r["agrees"] and not r["explained"]] == []


@pytest.mark.parametrize("name", list(catalogue.KERNELS))
def test_the_catalogue_agrees_with_the_fetched_packages_build_configuration(name):
    k = catalogue.get(name)
    config = fetch.kernel_config(k)
    if not config:
        pytest.skip(f"{name} is not fetched (python -m pagemove vm fetch {name})")
    assert int(config["CONFIG_PGTABLE_LEVELS"]) == k.pgtable_levels
    assert config.get("CONFIG_TRANSPARENT_HUGEPAGE") == "y" and config.get("CONFIG_KPROBE_EVENTS") == "y"
    assert (config.get("CONFIG_X86_PAE") == "y") == (k.geometry == "i386_pae")
    if k.is_arm64:  # CONFIG_PAGE_SHIFT is in the 6.12 packages
        assert int(config["CONFIG_PAGE_SHIFT"]) == getattr(Geometry, k.geometry)().page_shift
