//! Told by the kernel when a TCP socket of this host starts to listen, instead of asking it 40
//! times a second: an eBPF program on the `inet_sock_set_state` tracepoint writes one record to a
//! ring buffer for each change to `LISTEN` (any port, any namespace), and the ring buffer's
//! descriptor turns readable. A waiting thread sleeps in `poll()` until then: no wakeup at all
//! while nothing starts to listen, where polling the kernel's tables cost a wakeup every 25 ms.
//!
//! Root only (`CAP_BPF` and `CAP_PERFMON`), and only where the kernel has BPF ring buffers (Linux
//! 5.8) and no seccomp filter is on the thread: a filter that does not expect `bpf(2)` may kill
//! the process rather than fail the call (systemd's `SystemCallFilter=` does, unless
//! `SystemCallErrorNumber=` is set, and `bpf` is in its `@privileged` group, outside
//! `@system-service`), so it is not tried there. Anywhere else [`ListenEvents::open`] fails and
//! the caller polls. The program is twelve instructions, written out below, so nothing is
//! compiled and no object file is loaded. It reads no kernel structure (only the tracepoint's
//! `newstate` argument), so it needs no BTF and no offsets of this kernel's; the port is checked
//! by the caller, with the lookup it polls with.
//!
//! Why not a perf event on the same tracepoint (no program at all): it needs the tracepoint's id
//! from tracefs, which is not mounted everywhere, and closing the last perf user of a
//! tracepoint waits for RCU grace periods (35-43 ms measured here), which every `wait` would pay
//! before its exit or `exec`. Closing this program's link took 0.25 ms.

#![expect(
    unsafe_code,
    reason = "bpf(2) has no safe wrapper in any crate, and the ring buffer's positions are shared \
              memory the kernel writes"
)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};

/// `bpf(2)` commands.
const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_int = 17;

const BPF_MAP_TYPE_RINGBUF: u32 = 27;
const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;

/// The tracepoint, as its raw form is named (`TP_PROTO(sk, oldstate, newstate)`).
const TRACEPOINT: &CStr = c"inet_sock_set_state";

/// `TCP_LISTEN` of `include/net/tcp_states.h`.
const TCP_LISTEN: i32 = 10;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Insn {
    code: u8,
    /// Destination register in the low nibble, source in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// The program, for the ring buffer `map`: on a change of state to `TCP_LISTEN`, one record of 8
/// bytes (the new state; what matters is that there is a record).
fn program(map: RawFd) -> [Insn; 12] {
    // `BPF_LDX | BPF_MEM | BPF_DW`, `BPF_JMP | BPF_JNE | BPF_K`, `BPF_STX | BPF_MEM | BPF_DW`,
    // `BPF_LD | BPF_IMM | BPF_DW` (two slots; source `BPF_PSEUDO_MAP_FD`), `BPF_ALU64 | BPF_MOV
    // | BPF_X`, `BPF_ALU64 | BPF_ADD | BPF_K`, `BPF_ALU64 | BPF_MOV | BPF_K`, `BPF_JMP |
    // BPF_CALL`, `BPF_JMP | BPF_EXIT`.
    const LDX_DW: u8 = 0x79;
    const JNE_K: u8 = 0x55;
    const STX_DW: u8 = 0x7b;
    const LD_IMM64: u8 = 0x18;
    const MOV_X: u8 = 0xbf;
    const ADD_K: u8 = 0x07;
    const MOV_K: u8 = 0xb7;
    const CALL: u8 = 0x85;
    const EXIT: u8 = 0x95;
    const PSEUDO_MAP_FD: u8 = 1;
    const RINGBUF_OUTPUT: i32 = 130;
    [
        // r2 = ctx->args[2] (newstate)
        insn(LDX_DW, 2, 1, 16, 0),
        // if r2 != TCP_LISTEN: skip to `r0 = 0`
        insn(JNE_K, 2, 0, 8, TCP_LISTEN),
        // *(u64 *)(r10 - 8) = r2
        insn(STX_DW, 10, 2, -8, 0),
        // r1 = the ring buffer
        insn(LD_IMM64, 1, PSEUDO_MAP_FD, 0, map),
        insn(0, 0, 0, 0, 0),
        // r2 = r10 - 8; r3 = 8; r4 = 0
        insn(MOV_X, 2, 10, 0, 0),
        insn(ADD_K, 2, 0, 0, -8),
        insn(MOV_K, 3, 0, 0, 8),
        insn(MOV_K, 4, 0, 0, 0),
        // bpf_ringbuf_output(r1, r2, r3, r4)
        insn(CALL, 0, 0, 0, RINGBUF_OUTPUT),
        // return 0
        insn(MOV_K, 0, 0, 0, 0),
        insn(EXIT, 0, 0, 0, 0),
    ]
}

/// `union bpf_attr` for `BPF_MAP_CREATE`, as far as it is used.
#[repr(C)]
#[derive(Debug, Default)]
struct MapCreate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

/// `union bpf_attr` for `BPF_PROG_LOAD`, as far as it is used.
#[repr(C)]
#[derive(Debug, Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

/// `union bpf_attr` for `BPF_RAW_TRACEPOINT_OPEN`.
#[repr(C)]
#[derive(Debug, Default)]
struct RawTracepointOpen {
    name: u64,
    prog_fd: u32,
    _pad: u32,
}

// The offsets of `include/uapi/linux/bpf.h`, which the kernel reads the attributes at.
const _: () =
    assert!(size_of::<MapCreate>() == 20 && std::mem::offset_of!(MapCreate, map_flags) == 16);
const _: () =
    assert!(size_of::<ProgLoad>() == 64 && std::mem::offset_of!(ProgLoad, prog_name) == 48);
const _: () = assert!(size_of::<RawTracepointOpen>() == 16 && size_of::<Insn>() == 8);

/// `bpf(cmd, attr)`: the new descriptor.
fn bpf<T>(cmd: libc::c_int, attr: &T) -> io::Result<OwnedFd> {
    let size = u32::try_from(size_of::<T>()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `attr` is a `#[repr(C)]` prefix of `union bpf_attr` for `cmd`, alive and of `size`
    // bytes for the call; the kernel reads no further than `size` and takes the rest as zero.
    // The pointers inside it point to memory the caller keeps alive across the call.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, cmd, std::ptr::from_ref(attr), size) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(fd).map_err(|_| io::ErrorKind::InvalidData)?;
    // SAFETY: a descriptor the call just made, owned by no one else (BPF's are close-on-exec).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A shared mapping of one page of the ring buffer's descriptor, unmapped on drop.
#[derive(Debug)]
struct Page {
    at: NonNull<libc::c_void>,
    len: usize,
}

// SAFETY: the page is memory of the kernel's ring buffer; it is only read or written through
// atomics (`position`), so it may move to and be used from another thread.
unsafe impl Send for Page {}

impl Page {
    fn map(fd: &OwnedFd, offset: usize, writable: bool) -> io::Result<Self> {
        let len = rustix::param::page_size();
        let protection = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        let offset = libc::off_t::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: a new mapping (no address asked for) of a descriptor we hold; the kernel checks
        // that the range and protection are the ring buffer's to give (the consumer's page
        // writable, the producer's read-only).
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                protection,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset,
            )
        };
        if at == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let at = NonNull::new(at).ok_or(io::ErrorKind::InvalidData)?;
        Ok(Self { at, len })
    }

    /// The position the page starts with (`consumer_pos` or `producer_pos`, an `unsigned long`
    /// at the start of a page), which the kernel updates concurrently. On the producer's page,
    /// mapped read-only, only a `Relaxed` load is defined (`std::sync::atomic`, "Atomic accesses
    /// to read-only memory").
    fn position(&self) -> &AtomicUsize {
        // SAFETY: the mapping is at least a page, page-aligned, alive as long as `self`, and the
        // kernel reads and writes the position atomically (`smp_load_acquire`,
        // `smp_store_release`).
        unsafe { self.at.cast::<AtomicUsize>().as_ref() }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // SAFETY: the mapping `map` made, not used after this (`position` borrows `self`).
        unsafe {
            libc::munmap(self.at.as_ptr(), self.len);
        }
    }
}

/// The kernel's word, through a ring buffer, each time a TCP socket of this host starts to
/// listen. Dropping it detaches the program.
#[derive(Debug)]
pub struct ListenEvents {
    ring: OwnedFd,
    /// Keeps the program attached.
    _link: OwnedFd,
    /// `consumer_pos`: written to empty the ring.
    consumer: Page,
    /// `producer_pos`: how far the program wrote.
    producer: Page,
}

impl ListenEvents {
    /// Loads and attaches the program. Fails without root (`EPERM`), on a kernel older than 5.8
    /// or without BPF (`EINVAL`, `ENOSYS`), and without a call where a seccomp filter is on
    /// this thread, or its status cannot be read (`Unsupported`).
    pub fn open() -> io::Result<Self> {
        let status = std::fs::read_to_string("/proc/thread-self/status")
            .map_err(|_| io::ErrorKind::Unsupported)?;
        if is_filtered(&status) {
            return Err(io::ErrorKind::Unsupported.into());
        }
        let ring = bpf(
            BPF_MAP_CREATE,
            &MapCreate {
                map_type: BPF_MAP_TYPE_RINGBUF,
                max_entries: ring_size()?,
                ..MapCreate::default()
            },
        )?;
        let insns = program(ring.as_raw_fd());
        let license = c"GPL";
        let mut name = [0; 16];
        name[..14].copy_from_slice(b"refused_listen");
        let program = bpf(
            BPF_PROG_LOAD,
            &ProgLoad {
                prog_type: BPF_PROG_TYPE_RAW_TRACEPOINT,
                insn_cnt: u32::try_from(insns.len()).unwrap_or(u32::MAX),
                insns: insns.as_ptr() as u64,
                license: license.as_ptr() as u64,
                prog_name: name,
                ..ProgLoad::default()
            },
        )?;
        let link = bpf(
            BPF_RAW_TRACEPOINT_OPEN,
            &RawTracepointOpen {
                name: TRACEPOINT.as_ptr() as u64,
                prog_fd: u32::try_from(program.as_raw_fd()).unwrap_or(u32::MAX),
                _pad: 0,
            },
        )?;
        // The link holds the program now.
        drop(program);
        let page = rustix::param::page_size();
        let consumer = Page::map(&ring, 0, true)?;
        let producer = Page::map(&ring, page, false)?;
        Ok(Self {
            ring,
            _link: link,
            consumer,
            producer,
        })
    }

    /// Waits at most `timeout`, or until `also` is readable, for a socket of this host to
    /// start listening since the last call (or `open`): whether one did. Every record waiting
    /// is taken, so the next call waits for the next one.
    pub fn wait(&mut self, timeout: Duration, also: Option<BorrowedFd<'_>>) -> io::Result<bool> {
        let timeout = Timespec::try_from(timeout).ok();
        let ring = self.ring.as_fd();
        let also_or_ring = also.unwrap_or(ring);
        let mut both = [
            PollFd::new(&ring, PollFlags::IN),
            PollFd::new(&also_or_ring, PollFlags::IN),
        ];
        let fds = &mut both[..if also.is_some() { 2 } else { 1 }];
        loop {
            match rustix::event::poll(fds, timeout.as_ref()) {
                Ok(0) => return Ok(false),
                Ok(_) => break,
                Err(rustix::io::Errno::INTR) => {}
                Err(err) => return Err(err.into()),
            }
        }
        if fds[0].revents().is_empty() {
            return Ok(false);
        }
        // Relaxed: the page is read-only, and no record is read, so nothing needs ordering.
        let written = self.producer.position().load(Ordering::Relaxed);
        self.consumer.position().store(written, Ordering::Release);
        Ok(true)
    }
}

/// The ring buffer's size: a page, the least the kernel takes (it must be a power of two and a
/// multiple of the page: 4 KiB here, 64 KiB on some arm64 and ppc64 kernels, where 4 KiB is
/// `EINVAL`); a record takes 16 bytes, and the waiter empties the ring at each wakeup.
fn ring_size() -> io::Result<u32> {
    u32::try_from(rustix::param::page_size()).map_err(|_| io::ErrorKind::Unsupported.into())
}

/// Whether a `/proc/PID/status` says a seccomp filter (or strict mode) is on: its `Seccomp:`
/// line is other than 0 (a kernel without seccomp has no such line, and no filter).
fn is_filtered(status: &str) -> bool {
    crate::sys::process::status_field(status, "Seccomp").is_some_and(|mode| mode != "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// systemd's `SystemCallFilter=` and Docker's profile show as mode 2: no `bpf(2)` there.
    #[test]
    fn a_seccomp_filter_is_seen_in_the_status() {
        let status = "Name:\trefused\nSeccomp:\t2\nSeccomp_filters:\t1\n";
        assert!(is_filtered(status));
        assert!(is_filtered("Seccomp:\t1\n"));
        assert!(!is_filtered("Name:\trefused\n"));
        assert!(!is_filtered(
            "Name:\trefused\nSeccomp:\t0\nSeccomp_filters:\t0\n"
        ));
    }

    /// The kernel takes a ring of one page, whatever its size.
    #[test]
    fn the_ring_is_a_page() {
        let size = ring_size().unwrap();
        assert!(size.is_power_of_two());
        assert_eq!(usize::try_from(size).unwrap(), rustix::param::page_size());
    }

    /// The program as the kernel's disassembler would show it: the jump lands on `r0 = 0`.
    #[test]
    fn the_jump_skips_to_the_return() {
        let insns = program(3);
        let jump = 1;
        let target = jump + 1 + usize::try_from(insns[jump].off).unwrap();
        assert_eq!(insns[target].code, 0xb7);
        assert_eq!(insns[target].regs & 0xf, 0);
        assert_eq!(insns[target + 1].code, 0x95);
        assert_eq!(insns[3].imm, 3);
    }

    /// The kernel loads the program and tells of a listen. Root only.
    #[test]
    fn a_new_listener_is_told() {
        if !refused_lab::Lab::root_or_skip("a_new_listener_is_told") {
            return;
        }
        let mut events = ListenEvents::open().unwrap();
        let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap();
        assert!(events.wait(Duration::from_secs(5), None).unwrap());
        drop(listener);
    }
}
